"""Gemma's chat template (issue 14): conversations rendered by transformers' apply_chat_template with the template
Gemma 3's tokenizer_config.json publishes (written out below; Gemma 2's differs only in refusing a system message),
for loratop's Gemma format to match.

Run: ~/.cache/loratop/pyenv/bin/python make_gemma_chat_fixture.py   (transformers 5.24, jinja2)
-> gemma_chat.json: {"template": ..., "cases": [{"messages", "add_generation_prompt", "text"}]}
"""
import json, os
from transformers import PreTrainedTokenizerFast

here = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = (
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\\n'}}\n"
    "{%- endif -%}\n"
)
tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(here, "spm_gemma_tokenizer.json"), bos_token="<bos>")
conversations = [
    [{"role": "user", "content": "Which lamp burned longest?"}, {"role": "assistant", "content": "  The north lamp, 13 hours.\n"}],
    [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Weather?"},
     {"role": "assistant", "content": "Breezy"}, {"role": "user", "content": " And tomorrow? "}],
    [{"role": "user", "content": "Tags for: gale, oil, 6 pints"}],
]
cases = []
for conv in conversations:
    for gen in (False, True):
        text = tok.apply_chat_template(conv, chat_template=TEMPLATE, tokenize=False, add_generation_prompt=gen)
        cases.append({"messages": conv, "add_generation_prompt": gen, "text": text})
json.dump({"template": TEMPLATE, "cases": cases}, open(os.path.join(here, "gemma_chat.json"), "w"), indent=1)
print(len(cases), "cases")
