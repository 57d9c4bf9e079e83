#!/usr/bin/env python3
"""Generates loratop's sample datasets (stdlib only, seeded: the same files every run).

    python3 sample-data/generate.py            # writes next to this script

Outputs
  tags-train.jsonl   chat task, train split  ({"messages": [...]}, one conversation per line)
  tags-eval.jsonl    chat task, held-out split (word combinations never seen in training)
  logbook.txt        plain-text corpus: a lighthouse keeper's log in one fixed style
"""
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 1729

# Short, common, single-token-friendly words so sequences stay short.
WORDS = """
amber apple arrow autumn badge basin beacon berry birch blade blue bolt bone bread breeze brick bridge brook
cabin candle canyon cedar chalk cherry cliff cloud clover coast cobalt comet copper coral cotton crane creek
crystal dawn delta desert dune eagle ember fable falcon feather fern field flame flint forest fox frost garden
glade glass granite grape gravel harbor hawk hazel heron hill honey island ivory jade jasper juniper kettle
lagoon lake lantern lava leaf lemon light lily linen maple marble meadow mesa mint mist moon moss mountain
night north oak ocean olive onyx orbit orchid otter owl paper pearl pebble pine planet plum pond quartz quiet
rain raven reed ridge river robin rose ruby rust sage salt sand shadow shell silver sky slate snow sparrow spring
spruce star stone storm stream summer sun swan thistle thunder tide timber topaz tulip valley velvet violet
wave willow wind winter wolf wren yellow zephyr
""".split()

PROMPTS = [
    "Make a loratop tag for: {p}",
    "Create the loratop tag for \"{p}\".",
    "loratop tag please: {p}",
    "What is the loratop tag of {p}?",
    "Turn this into a loratop tag: {p}",
    "Tag for loratop: {p}",
]


def tag(words):
    return "LT-" + "-".join(w.upper() for w in words)


def chat_task(rng):
    seen = set()
    combos = []
    while len(combos) < 700:
        n = rng.choice([1, 2, 2, 3, 3, 3, 4])
        words = tuple(rng.sample(WORDS, n))
        if rng.random() < 0.15:
            words = words + (str(rng.randint(1, 99)),)
        if words in seen:
            continue
        seen.add(words)
        combos.append(words)
    examples = []
    for words in combos:
        prompt = rng.choice(PROMPTS).format(p=" ".join(words))
        examples.append({"messages": [{"role": "user", "content": prompt},
                                      {"role": "assistant", "content": tag(words)}]})
    return examples[:620], examples[620:]


def logbook(rng, target_bytes=160_000):
    weather = ["calm", "a light breeze", "a steady wind", "fog until noon", "rain from the west", "a hard gale",
               "clear skies", "low cloud", "sleet", "a warm southerly"]
    ships = ["a fishing boat", "two trawlers", "a grain barge", "the mail steamer", "a small yacht", "no ships",
             "a coastal freighter", "three dories", "the ferry"]
    chores = ["cleaned the lens", "trimmed the wick", "oiled the clockwork", "painted the railing", "mended a net",
              "carried coal up the stairs", "wrote to the harbour office", "checked the fog bell", "baked bread",
              "repaired the shutter", "counted the oil casks", "swept the gallery"]
    sights = ["a seal on the rocks", "gulls over the shoal", "a rainbow to the east", "porpoises near the point",
              "a heron in the marsh", "the northern lights", "driftwood on the beach", "a lost buoy", "frost on the glass"]
    moods = ["The night was long but quiet.", "I slept well after the watch.", "The tower groaned in the wind.",
             "All was in order by dusk.", "I read by the lamp until late.", "The sea was the colour of slate.",
             "The keeper's cat caught a mouse.", "Supplies are running low."]
    out = []
    size = 0
    day = 1
    while size < target_bytes:
        lines = [f"Day {day}. Weather: {rng.choice(weather)}. The lamp burned for {rng.randint(7, 15)} hours "
                 f"and used {rng.randint(3, 9)} pints of oil."]
        lines.append(f"Passing: {rng.choice(ships)}. I {rng.choice(chores)} and {rng.choice(chores)}.")
        if rng.random() < 0.6:
            lines.append(f"Seen: {rng.choice(sights)}.")
        lines.append(rng.choice(moods))
        entry = " ".join(lines) + "\n\n"
        out.append(entry)
        size += len(entry.encode("utf-8"))
        day += 1
    return "".join(out)


def main():
    rng = random.Random(SEED)
    train, evals = chat_task(rng)
    with open(os.path.join(HERE, "tags-train.jsonl"), "w", encoding="utf-8") as f:
        for e in train:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    with open(os.path.join(HERE, "tags-eval.jsonl"), "w", encoding="utf-8") as f:
        for e in evals:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    with open(os.path.join(HERE, "logbook.txt"), "w", encoding="utf-8") as f:
        f.write(logbook(rng))
    print(f"tags-train.jsonl {len(train)} examples, tags-eval.jsonl {len(evals)} examples, "
          f"logbook.txt {os.path.getsize(os.path.join(HERE, 'logbook.txt'))} bytes")


if __name__ == "__main__":
    main()
