"""Llama 3.x's and Phi-3's chat templates (issue 14): conversations rendered by transformers' apply_chat_template with
the templates the models publish, for loratop's Llama 3 and Phi-3 formats to match.

The published templates are read from llama.cpp's copies of them (models/templates/ in a llama.cpp source tree:
meta-llama-Llama-3.1-8B-Instruct, -3.2-3B-Instruct, -3.3-70B-Instruct, microsoft-Phi-3.5-mini-instruct) and stored in
the fixture; Meta-Llama-3-8B-Instruct's (3.0: no system turn of its own) and Phi-3-mini-4k-instruct's first one (<s>
first, an empty system message kept) are written out below. Llama 3.2's template states today's date
(strftime_now); it is rendered here with date_string given, as transformers allows, so that the fixture stays true.

Run: LLAMA_CPP=<llama.cpp source tree> ~/.cache/loratop/pyenv/bin/python make_llama_phi_chat_fixture.py
     (transformers 5.24, jinja2)
-> llama_phi_chat.json: {"templates": {name: jinja}, "cases": [{"template", "messages", "add_generation_prompt",
   "date_string" (or null), "text"}]}
"""
import json, os, sys
from transformers import PreTrainedTokenizerFast

here = os.path.dirname(os.path.abspath(__file__))
llama_cpp = os.environ.get("LLAMA_CPP") or sys.exit("set LLAMA_CPP to a llama.cpp source tree (models/templates)")
templates = {
    name: open(os.path.join(llama_cpp, "models", "templates", f"{file}.jinja")).read()
    for name, file in (("llama3.1", "meta-llama-Llama-3.1-8B-Instruct"), ("llama3.2", "meta-llama-Llama-3.2-3B-Instruct"),
                       ("llama3.3", "meta-llama-Llama-3.3-70B-Instruct"), ("phi3.5", "microsoft-Phi-3.5-mini-instruct"))
}
templates["llama3.0"] = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
templates["phi3-mini"] = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + "
    "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + "
    "'<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}")
llama = PreTrainedTokenizerFast(tokenizer_file=os.path.join(here, "llama3_tokenizer.json"), bos_token="<|begin_of_text|>",
                                eos_token="<|eot_id|>")
phi = PreTrainedTokenizerFast(tokenizer_file=os.path.join(here, "llama3_tokenizer.json"), bos_token="<s>",
                              eos_token="<|endoftext|>")
conversations = [
    [{"role": "user", "content": "Which lamp burned longest?"}, {"role": "assistant", "content": "  The north lamp, 13 hours.\n"}],
    [{"role": "system", "content": " Answer in one word. "}, {"role": "user", "content": "Weather?"},
     {"role": "assistant", "content": "Breezy"}, {"role": "user", "content": " And tomorrow? "}],
    [{"role": "system", "content": ""}, {"role": "user", "content": "Tags for: gale, oil, 6 pints"}],
]
cases = []
for name, jinja in templates.items():
    tok = phi if name.startswith("phi") else llama
    date = "06 Dec 2026" if name == "llama3.2" else None
    for conv in conversations:
        for gen in (False, True):
            extra = {"date_string": date} if date else {}
            text = tok.apply_chat_template(conv, chat_template=jinja, tokenize=False, add_generation_prompt=gen, **extra)
            cases.append({"template": name, "messages": conv, "add_generation_prompt": gen, "date_string": date, "text": text})
json.dump({"templates": templates, "cases": cases}, open(os.path.join(here, "llama_phi_chat.json"), "w"), indent=1)
print(len(cases), "cases")
