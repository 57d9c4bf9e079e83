extension BPEMerge {
    /// A 4-ary min-heap of UInt64 in a buffer of fixed capacity (shallower than a binary one, and its four children
    /// share a cache line).
    struct Heap {
        private let items: UnsafeMutablePointer<UInt64>
        private let capacity: Int
        private(set) var count = 0

        init(capacity: Int) {
            self.capacity = max(capacity, 1)
            items = .allocate(capacity: self.capacity)
        }

        func deallocate() { items.deallocate() }

        /// Adds without ordering (call `heapify` before the first `pop`).
        mutating func append(_ v: UInt64) {
            precondition(count < capacity, "BPEMerge.Heap: over capacity")
            items[count] = v
            count += 1
        }

        mutating func heapify() {
            guard count > 1 else { return }
            for i in stride(from: (count - 2) / 4, through: 0, by: -1) { siftDown(i) }
        }

        mutating func push(_ v: UInt64) {
            precondition(count < capacity, "BPEMerge.Heap: over capacity")
            var i = count
            count += 1
            while i > 0 {
                let parent = (i - 1) / 4
                guard v < items[parent] else { break }
                items[i] = items[parent]
                i = parent
            }
            items[i] = v
        }

        mutating func pop() -> UInt64? {
            guard count > 0 else { return nil }
            let top = items[0]
            count -= 1
            if count > 0 {
                items[0] = items[count]
                siftDown(0)
            }
            return top
        }

        private func siftDown(_ start: Int) {
            var i = start
            let v = items[i]
            while true {
                let first = 4 * i + 1
                guard first < count else { break }
                var m = first
                var mv = items[first]
                for c in (first + 1)..<min(first + 4, count) where items[c] < mv {
                    m = c
                    mv = items[c]
                }
                guard mv < v else { break }
                items[i] = mv
                i = m
            }
            items[i] = v
        }
    }
}
