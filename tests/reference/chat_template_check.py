"""Renders chat templates with tandem's Jinja interpreter (`tandem template`) and with Hugging
Face's own renderer (transformers' render_jinja_template over jinja2), for a set of
conversations, and checks that the prompts are identical byte for byte.

Templates: those of the installed GGUF models (read with the gguf package) and the model
families' templates in models/chat-templates (scripts/install_chat_templates.sh takes them
from the pinned llama-cpp-python sdist). Every template, but those in UNSUPPORTED, must render
every conversation jinja2 renders, identically, and refuse those that the template itself
refuses (raise_exception). Where jinja2 fails with a Python error (a template that works in
no Python either), tandem may do either. The families in REQUIRED must be there.

    chat_template_check.py TANDEM MODEL_FOR_TOKENIZER MODELS_DIR
"""
import json
import pathlib
import subprocess
import sys
import tempfile

import gguf
import jinja2
from transformers.utils.chat_template_utils import render_jinja_template

# The main GGUF families' templates (file names in models/chat-templates).
REQUIRED = [
    "Qwen-Qwen2.5-7B-Instruct.jinja",
    "Qwen-Qwen3-0.6B.jinja",
    "Qwen-QwQ-32B.jinja",
    "meta-llama-Llama-3.1-8B-Instruct.jinja",
    "meta-llama-Llama-3.2-3B-Instruct.jinja",
    "meta-llama-Llama-3.3-70B-Instruct.jinja",
    "google-gemma-2-2b-it.jinja",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja",
    "Mistral-Small-3.2-24B-Instruct-2506.jinja",
    "microsoft-Phi-3.5-mini-instruct.jinja",
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
    "HuggingFaceTB-SmolLM3-3B.jinja",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",
    "ibm-granite-granite-3.3-2B-Instruct.jinja",
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city, now.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city's name"}},
            "required": ["city"],
        },
    },
}
TOOL_CALL = {
    "id": "call12345",
    "type": "function",
    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
}

CONVERSATIONS = [
    {"messages": [{"role": "user", "content": "Hi"}]},
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
    {
        "messages": [
            {"role": "system", "content": "You answer in French."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "Quatre."},
            {"role": "user", "content": "And 3*3?\n  Say it 'twice' \"please\"."},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Write a haiku about C++ templates, {{ not jinja }}."},
            {"role": "assistant", "content": "<think>\nshort\n</think>\n\nAngle brackets nest\n  ünïcödé — 日本語"},
            {"role": "user", "content": "   Again, with spaces   "},
        ],
    },
    {
        "messages": [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi"}],
        "add_generation_prompt": False,
    },
    {"messages": [{"role": "assistant", "content": "I speak first."}, {"role": "user", "content": "Hi"}]},
    {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER_TOOL]},
    {
        "messages": [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "18 C, sunny"},
        ],
        "tools": [WEATHER_TOOL],
    },
    {"messages": [{"role": "user", "content": "Think, or not."}], "enable_thinking": False},
]

# Templates using what tandem's interpreter does not have, and what that is.
UNSUPPORTED = {"ByteDance-Seed-OSS.jinja": "dict literals with integer keys"}

TOKENS = {"bos_token": "<|bos|>", "eos_token": "<|eos|>"}


def jinja2_render(template, conversation):
    kwargs = {k: v for k, v in conversation.items() if k not in ("messages", "tools", "add_generation_prompt")}
    try:
        rendered, _ = render_jinja_template(
            conversations=[conversation["messages"]],
            tools=conversation.get("tools"),
            chat_template=template,
            add_generation_prompt=conversation.get("add_generation_prompt", True),
            **kwargs,
        )
        return {"prompt": rendered[0]}
    except jinja2.exceptions.TemplateError as e:  # raise_exception, or a template error
        return {"error": f"{type(e).__name__}: {e}", "refused": True}
    except Exception as e:  # a Python error in the template's own code
        return {"error": f"{type(e).__name__}: {e}", "refused": False}


def tandem_render(tandem, model, template_path, conversations):
    batch = [dict(c, **TOKENS) for c in conversations]
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(batch, f)
        f.flush()
        run = subprocess.run(
            [tandem, "template", "--model", model, "--chat-template", str(template_path), "--conversation", f.name],
            capture_output=True,
            text=True,
        )
    if run.returncode != 0:
        return [{"error": "tandem: " + run.stderr.strip()}] * len(conversations)
    return json.loads(run.stdout)


def installed_templates(models_dir, scratch):
    """The chat templates inside the installed GGUF files, written out as files."""
    found = []
    for path in sorted(pathlib.Path(models_dir).glob("*.gguf")):
        field = gguf.GGUFReader(str(path)).get_field("tokenizer.chat_template")
        if field is None:
            continue
        out = scratch / (path.stem + ".jinja")
        out.write_bytes(bytes(field.parts[field.data[0]]))
        found.append(out)
    return found


def differences(theirs, ours):
    """The conversations where tandem's answer is not jinja2's."""
    bad = []
    for i, (a, b) in enumerate(zip(theirs, ours)):
        if "prompt" in a and a["prompt"] != b.get("prompt"):
            bad.append((i, a, b))
        elif a.get("refused") and "prompt" in b:
            bad.append((i, a, b))
    return bad


def main():
    tandem, model, models_dir = sys.argv[1:4]
    families = pathlib.Path(models_dir) / "chat-templates"
    missing = [name for name in REQUIRED if not (families / name).is_file()]
    if missing:
        sys.exit(f"missing templates (run scripts/setup.sh): {missing}")
    scratch = pathlib.Path(tempfile.mkdtemp())
    templates = installed_templates(models_dir, scratch) + sorted(families.glob("*.jinja"))
    failures, passed = [], 0
    for path in templates:
        template = path.read_text()
        theirs = [jinja2_render(template, dict(c, **TOKENS)) for c in CONVERSATIONS]
        ours = tandem_render(tandem, model, path, CONVERSATIONS)
        bad = differences(theirs, ours)
        rendered = sum("prompt" in a for a in theirs)
        why = UNSUPPORTED.get(path.name)
        status = "ok" if not bad else f"unsupported ({why})" if why else "FAIL"
        print(f"{status:>8}  {path.name}: {rendered}/{len(CONVERSATIONS)} conversations rendered by jinja2")
        if not bad or why:
            passed += not bad
            continue
        failures.append(path.name)
        i, a, b = bad[0]
        print(f"    conversation {i}:\n      jinja2: {json.dumps(a)[:800]}\n      tandem: {json.dumps(b)[:800]}")
    print(f"{passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
