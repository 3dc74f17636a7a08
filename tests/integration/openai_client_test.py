"""OpenAI's own Python client (the `openai` package, as users call us) against a real
`tandem serve` process: `n` samples of one prompt on /v1/completions and
/v1/chat/completions, streamed and not, First Finish Search, the refusals, and a conversation
with tools through the model's own chat template, log probabilities (the same in every
speculative mode, streamed too), and structured output (valid for its JSON schema in every mode,
and greedy output the same in all of them).

Each sample is what a request with its seed alone gives (sample i draws from
sample_seed(seed, i), server/sample_group.h), and the prompt's KV cache is held once
for all of them: the `tandem.kv_cache_bytes` the answer reports shows it.

    openai_client_test.py BUILD_DIR SHARED_DIR MODELS_DIR
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import openai

MASK = (1 << 64) - 1


def sample_seed(seed, index):
    """server/sample_group.cpp's sample_seed: the request's seed for sample 0, splitmix64 after."""
    if index == 0:
        return seed
    z = (seed + 0x9E3779B97F4A7C15 * (index + 1)) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def start_server(tandem, model, tmp, name, draft="none"):
    endpoint_file = os.path.join(tmp, name)
    server = subprocess.Popen([tandem, "serve", "--model", model, "--draft-model", draft, "--threads", "2",
                               "--max-batch", "4", "--listen", "tcp://127.0.0.1:0", "--http", "127.0.0.1:0",
                               "--endpoint-file", endpoint_file], stdout=subprocess.DEVNULL)
    for _ in range(600):
        if os.path.exists(endpoint_file) and len(open(endpoint_file).read().split()) == 3:
            break
        assert server.poll() is None, "tandem serve exited"
        time.sleep(0.1)
    http = open(endpoint_file).read().split()[1]
    return server, openai.OpenAI(api_key="unused", base_url=http + "/v1", max_retries=0, timeout=120)


def check_completions(client):
    prompt = "Once upon a time, there was a little girl named Lily." + \
        " She liked to play in the park with her dog and her friends." * 5
    settings = dict(model="stories260K", prompt=prompt, max_tokens=24, temperature=1.0)
    four = client.completions.create(n=4, seed=5, **settings)
    assert [c.index for c in four.choices] == [0, 1, 2, 3], four.choices
    texts = [c.text for c in four.choices]
    assert len(set(texts)) == 4, f"samples of distinct seeds came out the same: {texts}"
    for i, choice in enumerate(four.choices):
        alone = client.completions.create(n=1, seed=sample_seed(5, i), **settings)
        assert alone.choices[0].text == choice.text, (i, alone.choices[0].text, choice.text)
    again = client.completions.create(n=4, seed=5, **settings)
    assert [c.text for c in again.choices] == texts, "the same seed gave other samples"
    # The prompt's cache is held once, each sample adding only its rows past it: well under
    # four requests' caches (each about one).
    one = client.completions.create(n=1, seed=5, **settings)
    # The same prompt again: all of it but its last token read from the prefix cache, which
    # usage reports as OpenAI does; with tandem's `cache: false` none of it.
    assert one.usage.prompt_tokens_details.cached_tokens == one.usage.prompt_tokens - 1, one.usage
    uncached = client.completions.create(n=1, seed=5, extra_body={"cache": False}, **settings)
    assert uncached.usage.prompt_tokens_details.cached_tokens == 0, uncached.usage
    assert uncached.choices[0].text == one.choices[0].text
    assert four.usage.prompt_tokens == one.usage.prompt_tokens, (four.usage, one.usage)
    if all(c.finish_reason == "length" for c in four.choices):
        assert four.usage.completion_tokens == 4 * 24, four.usage
    four_bytes, one_bytes = four.model_extra["tandem"]["kv_cache_bytes"], one.model_extra["tandem"]["kv_cache_bytes"]
    assert 0 < four_bytes < 3 * one_bytes, (four_bytes, one_bytes)
    print(f"n = 4: {four_bytes} KV bytes, n = 1: {one_bytes}")

    # Streamed: every chunk names its sample; each sample's text is the one not streamed.
    pieces = {}
    finished = {}
    for chunk in client.completions.create(n=4, seed=5, stream=True, **settings):
        for c in chunk.choices:
            pieces[c.index] = pieces.get(c.index, "") + c.text
            if c.finish_reason:
                finished[c.index] = c.finish_reason
    assert [pieces[i] for i in range(4)] == texts, pieces
    assert sorted(finished) == [0, 1, 2, 3], finished

    # First Finish Search (tandem's extension): the first sample to finish answers alone.
    story = dict(model="stories260K", prompt="Once upon a time", max_tokens=400, temperature=1.0, seed=13)
    every = client.completions.create(n=4, **story)
    first = client.completions.create(n=4, extra_body={"first_finish": True}, **story)
    assert len(first.choices) == 1, first.choices
    winner = first.choices[0]
    assert winner.text == every.choices[winner.index].text
    assert winner.finish_reason == "stop", winner

    for bad in ({"n": 5}, {"n": 0}, {"n": 129}):
        try:
            client.completions.create(**dict(settings, **bad))
            raise AssertionError(f"{bad} was accepted")
        except openai.BadRequestError as e:
            assert "'n' must be between" in str(e) or "n must be between" in str(e), e


def check_chat(client):
    messages = [{"role": "user", "content": "Name a colour."}]
    three = client.chat.completions.create(model="smollm2", messages=messages, n=3, seed=9, max_tokens=12,
                                           temperature=1.0)
    assert [c.index for c in three.choices] == [0, 1, 2], three.choices
    assert all(c.message.role == "assistant" and c.message.content for c in three.choices), three.choices
    alone = client.chat.completions.create(model="smollm2", messages=messages, n=1, seed=sample_seed(9, 2),
                                           max_tokens=12, temperature=1.0)
    assert alone.choices[0].message.content == three.choices[2].message.content
    pieces = {}
    for chunk in client.chat.completions.create(model="smollm2", messages=messages, n=3, seed=9, max_tokens=12,
                                                temperature=1.0, stream=True):
        for c in chunk.choices:
            pieces[c.index] = pieces.get(c.index, "") + (c.delta.content or "")
    assert [pieces[i] for i in range(3)] == [c.message.content for c in three.choices], pieces
    # The model's own template (SmolLM2's, in its GGUF) takes a whole conversation with a
    # system message, text parts, tools and template variables as the client sends them.
    conversation = [{"role": "system", "content": "Answer briefly."},
                    {"role": "user", "content": [{"type": "text", "text": "Name a colour."}]},
                    {"role": "assistant", "content": "Blue."},
                    {"role": "user", "content": "Another?"}]
    tools = [{"type": "function", "function": {"name": "pick", "parameters": {"type": "object"}}}]
    answer = client.chat.completions.create(model="smollm2", messages=conversation, tools=tools, max_tokens=8,
                                            temperature=0, extra_body={"chat_template_kwargs": {"x": 1}})
    assert answer.choices[0].message.content and answer.usage.prompt_tokens > 20, answer


def check_completion_logprobs(client):
    answer = client.completions.create(model="stories260K", prompt="Once upon a time", max_tokens=10, temperature=0,
                                       logprobs=2)
    lp = answer.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == answer.usage.completion_tokens == 10, lp
    assert "".join(lp.tokens) == answer.choices[0].text, (lp.tokens, answer.choices[0].text)
    assert all(len(top) == 2 for top in lp.top_logprobs), lp.top_logprobs
    # Greedy: each token is its position's most likely one.
    assert all(abs(max(top.values()) - chosen) < 1e-6 for top, chosen in zip(lp.top_logprobs, lp.token_logprobs))
    assert lp.text_offset == sorted(lp.text_offset) and lp.text_offset[0] == 0, lp.text_offset
    try:
        client.completions.create(model="stories260K", prompt="x", max_tokens=1, logprobs=6)
        raise AssertionError("logprobs=6 was accepted")
    except openai.BadRequestError as e:
        assert "'logprobs' must be between 0 and 5" in str(e), e


def check_chat_logprobs(client):
    """Log probabilities come from the target's distribution: the same in every mode."""
    messages = [{"role": "user", "content": "Count from one to five."}]
    answers = {}
    for mode in ("ar", "chain", "lookup", "auto"):
        answer = client.chat.completions.create(model="smollm2", messages=messages, max_tokens=16, temperature=0,
                                                logprobs=True, top_logprobs=3, extra_body={"mode": mode})
        content = answer.choices[0].logprobs.content
        assert len(content) == answer.usage.completion_tokens, content
        assert "".join(t.token for t in content) == answer.choices[0].message.content
        assert all(len(t.top_logprobs) == 3 and t.top_logprobs[0].token == t.token for t in content)
        answers[mode] = [(t.token, t.logprob, [(x.token, x.logprob) for x in t.top_logprobs]) for t in content]
    assert answers["chain"] == answers["ar"] == answers["lookup"] == answers["auto"], answers
    streamed = []
    for chunk in client.chat.completions.create(model="smollm2", messages=messages, max_tokens=16, temperature=0,
                                                logprobs=True, top_logprobs=3, stream=True,
                                                extra_body={"mode": "chain"}):
        for c in chunk.choices:
            if c.logprobs:
                streamed += [(t.token, t.logprob, [(x.token, x.logprob) for x in t.top_logprobs])
                             for t in c.logprobs.content]
    assert streamed == answers["ar"], (streamed, answers["ar"])
    # Sampled: each token lies in the distribution it was drawn from (top-k 5 here).
    sampled = client.chat.completions.create(model="smollm2", messages=messages, max_tokens=16, temperature=0.8,
                                             seed=4, logprobs=True, top_logprobs=5, extra_body={"top_k": 5})
    for t in sampled.choices[0].logprobs.content:
        assert t.token in [x.token for x in t.top_logprobs] and t.logprob > -9999, t
        assert sum(math.exp(x.logprob) for x in t.top_logprobs) == pytest_approx(1.0), t
    check_structured_output(client)
    check_chat(client)


PERSON = {"type": "object",
          "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer"},
                         "pets": {"type": "array", "items": {"enum": ["cat", "dog", "fish"]}, "maxItems": 3},
                         "boss": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
          "required": ["name", "age", "pets", "boss"], "additionalProperties": False}


def follows_person(text):
    value = json.loads(text)
    assert set(value) == {"name", "age", "pets", "boss"}, value
    assert isinstance(value["name"], str) and len(value["name"]) <= 12, value
    assert isinstance(value["age"], int) and not isinstance(value["age"], bool), value
    assert len(value["pets"]) <= 3 and all(p in ("cat", "dog", "fish") for p in value["pets"]), value
    assert value["boss"] is None or isinstance(value["boss"], str), value
    return value


def check_structured_output(client):
    """Output follows the schema in every mode; greedy output is the same in every mode."""
    messages = [{"role": "user", "content": "Describe a person as JSON."}]
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "strict": True, "schema": PERSON}}
    outputs = {}
    for mode in ("ar", "chain", "tree", "lookup", "pearl", "auto"):
        answer = client.chat.completions.create(model="smollm2", messages=messages, max_tokens=80, temperature=0,
                                                response_format=fmt, extra_body={"mode": mode})
        assert answer.choices[0].finish_reason == "stop", answer
        follows_person(answer.choices[0].message.content)
        outputs[mode] = answer.choices[0].message.content
    assert len(set(outputs.values())) == 1, outputs
    for seed in range(3):
        sampled = client.chat.completions.create(model="smollm2", messages=messages, max_tokens=80, temperature=1.0,
                                                 seed=seed, response_format=fmt, extra_body={"mode": "chain"})
        follows_person(sampled.choices[0].message.content)
    anything = client.chat.completions.create(model="smollm2", messages=messages, max_tokens=60, temperature=0,
                                              response_format={"type": "json_object"})
    if anything.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(anything.choices[0].message.content), dict), anything
    else:  # cut by max_tokens: a prefix of an object
        assert anything.choices[0].message.content.startswith("{"), anything
    try:
        client.chat.completions.create(model="smollm2", messages=messages, max_tokens=8, response_format={
            "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "format": "email"}}})
        raise AssertionError("an unsupported schema was accepted")
    except openai.BadRequestError as e:
        assert "'format' is not supported" in str(e), e


def pytest_approx(value, tolerance=1e-4):
    class Near:
        def __eq__(self, other):
            return abs(other - value) <= tolerance
    return Near()


def main():
    build, shared, models = sys.argv[1], sys.argv[2], sys.argv[3]
    tandem = os.path.join(build, "tandem")
    with tempfile.TemporaryDirectory() as tmp:
        stories = os.path.join(shared, "data/models/stories260K/model.bin")
        smollm2 = os.path.join(models, "smollm2-135m-instruct-q4_1.gguf")
        # smollm2 drafts for itself: chain mode runs, and every mode must give the same logprobs.
        for model, draft, check in ((stories, "none", check_completions),
                                    (stories, "none", check_completion_logprobs),
                                    (smollm2, smollm2, check_chat_logprobs)):
            server, client = start_server(tandem, model, tmp, check.__name__, draft)
            try:
                check(client)
            finally:
                server.terminate()
                server.wait(timeout=30)
    print("openai client: n samples, streaming, first finish and refusals all passed")


if __name__ == "__main__":
    main()
