import XCTest
@testable import loratop
@testable import LoraTopConfig

final class RunConfigTests: XCTestCase {
    /// Every supported key, written out and read back, gives the same configuration.
    func testEveryKeyRoundTrips() throws {
        var c = RunConfig()
        c.baseModel = "smollm2"
        c.datasets = "sample-data/chat-train.jsonl"
        c.evalDataset = "sample-data/chat-eval.jsonl"
        c.valSetSize = 0.1
        c.loraR = 16
        c.loraAlpha = 32
        c.loraDropout = 0.05
        c.loraTargetModules = ["q", "v"]
        c.useRslora = true
        c.quant = "nf4"
        c.loadIn4bit = true
        c.loadIn8bit = false
        c.bnb4bitQuantType = "nf4"
        c.bnb4bitUseDoubleQuant = true
        c.quantBlockSize = 64
        c.gradientCheckpointing = true
        c.compute = "bf16"
        c.learningRate = 1e-4
        c.lrScheduler = "linear"
        c.warmupSteps = 5
        c.weightDecay = 0.01
        c.maxGradNorm = 1
        c.microBatchSize = 2
        c.gradientAccumulationSteps = 4
        c.sequenceLen = 256
        c.maxSteps = 100
        c.numEpochs = 2
        c.evalSteps = 10
        c.saveSteps = 50
        c.sampleSteps = 25
        c.inspectSteps = 10
        c.saveTotalLimit = 3
        c.seed = 7
        c.threads = 2
        c.outputDir = "runs/demo"
        c.metricsFile = "runs/demo/metrics.jsonl"
        c.resumeFromCheckpoint = "runs/demo/checkpoint-50"
        c.theme = "nord"
        c.fps = 5
        // Every key is set, so the round trip covers all of them.
        let mirror = Mirror(reflecting: c)
        XCTAssertTrue(mirror.children.allSatisfy { child in
            if case Optional<Any>.none = child.value as Any? { return false }
            return "\(child.value)" != "nil"
        })
        XCTAssertEqual(mirror.children.count, RunConfig.CodingKeys.allCases.count)
        let text = try c.yaml()
        let back = try RunConfig.parse(text, path: "roundtrip.yaml")
        XCTAssertEqual(back, c)
    }

    func testTypoNamesTheNearestKeyAndLine() {
        let yaml = "lora_r: 8\nlora_alpah: 16\n"
        XCTAssertThrowsError(try RunConfig.parse(yaml, path: "run.yaml")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("run.yaml:2"), text)
            XCTAssertTrue(text.contains("unknown key `lora_alpah`"), text)
            XCTAssertTrue(text.contains("did you mean `lora_alpha`?"), text)
        }
        XCTAssertThrowsError(try RunConfig.parse("learning_rat: 1e-4\n", path: "x.yaml")) {
            XCTAssertTrue("\($0)".contains("`learning_rate`"), "\($0)")
        }
        XCTAssertThrowsError(try RunConfig.parse("micro_batch: 4\n", path: "x.yaml")) {
            XCTAssertTrue("\($0)".contains("`micro_batch_size`"), "\($0)")
        }
    }

    func testAxolotlAndPEFTSpellings() throws {
        let yaml = """
        base_model: smollm2
        datasets:
          - path: data/train.jsonl
            type: chat_template
        lora_target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]
        load_in_4bit: true
        bnb_4bit_use_double_quant: true
        peft_use_rslora: true
        """
        let c = try RunConfig.parse(yaml, path: "a.yaml")
        XCTAssertEqual(c.datasets, "data/train.jsonl")
        XCTAssertEqual(c.loraTargetModules ?? [], ["q", "k", "v", "o", "gate", "up", "down"])
        XCTAssertEqual(c.effectiveQuant, "nf4")
        XCTAssertEqual(c.useRslora, true)
    }

    func testBadValuesNameTheKey() {
        XCTAssertThrowsError(try RunConfig.parse("lora_r: eight\n", path: "b.yaml")) {
            XCTAssertTrue("\($0)".contains("b.yaml:1"), "\($0)")
            XCTAssertTrue("\($0)".contains("lora_r"), "\($0)")
        }
        XCTAssertThrowsError(try RunConfig.parse("lora_dropout: 1.5\n", path: "b.yaml")) {
            XCTAssertTrue("\($0)".contains("lora_dropout"), "\($0)")
        }
        XCTAssertThrowsError(try RunConfig.parse("quant: q3\n", path: "b.yaml"))
        XCTAssertThrowsError(try RunConfig.parse("- a\n- b\n", path: "b.yaml")) { XCTAssertTrue("\($0)".contains("mapping")) }
        XCTAssertThrowsError(try RunConfig.parse("lora_r: 8\nlora_r: 16\n", path: "b.yaml"))
    }

    func testEmptyFileIsAllDefaults() throws {
        XCTAssertEqual(try RunConfig.parse("", path: "e.yaml"), RunConfig())
        XCTAssertEqual(try RunConfig.parse("# only a comment\n", path: "e.yaml"), RunConfig())
    }
}
