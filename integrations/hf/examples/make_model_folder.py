"""Makes a Hugging Face folder (fp32 safetensors, config, tokenizer) of a GGUF model, so transformers, PEFT and the
Trainer load it in seconds. loratop's sample model is a GGUF file; the loratop-hf tests train its fp32 twin.

    python integrations/hf/examples/make_model_folder.py ~/.cache/loratop/SmolLM2-135M-Instruct.Q4_1.gguf OUT

transformers dequantizes the GGUF tensors (gguf-py) and converts its tokenizer; the folder is written next to OUT and
renamed into place, so a half-written folder is never taken for a model.
"""

import argparse
import os
import shutil
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gguf", help="the GGUF model file")
    parser.add_argument("out", help="the folder to write")
    args = parser.parse_args()
    if not os.path.isfile(args.gguf):
        print(f"make_model_folder: {args.gguf}: no such file (loratop fetch-model smollm2 downloads the sample)",
              file=sys.stderr)
        return 2
    import torch
    import transformers

    folder, name = os.path.split(os.path.abspath(args.gguf))
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    partial = args.out.rstrip("/") + f".partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    # A model loaded from GGUF is marked quantized and refuses save_pretrained; its tensors are plain fp32, so a
    # model made from the same config takes them as they are.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:
        print(f"make_model_folder: tensors did not match: missing {missing[:5]}, unexpected {unexpected[:5]}",
              file=sys.stderr)
        return 1
    if missing:
        plain.tie_weights()
    plain.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    os.replace(partial, args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
