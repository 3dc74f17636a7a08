// Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/TARGET/NAME): small valid
// inputs of each kind, so the fuzzers start from what real peers send.
//   make_seeds DIR
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "../unit/gguf_builder.h"
#include "proto/client.pb.h"
#include "proto/shard.pb.h"
#include "proto/tree_wire.h"

namespace {

std::filesystem::path root;

void seed(const std::string& target, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(root / target);
  std::ofstream(root / target / name, std::ios::binary) << bytes;
}

// A complete llama2.c checkpoint: dim 8, hidden 16, 1 layer, 2 heads, the stories vocabulary of 512.
std::string tiny_llama2c() {
  const int32_t header[7] = {8, 16, 1, 2, 2, 512, 8};
  std::string out(reinterpret_cast<const char*>(header), sizeof header);
  const int64_t floats = 512 * 8 + 8 + 4 * 64 + 8 + 3 * 128 + 8 + 8 * 4;
  for (int64_t i = 0; i < floats; ++i) {
    const float v = 0.02f * float(std::sin(double(i)));
    out.append(reinterpret_cast<const char*>(&v), 4);
  }
  return out;
}

tandem::wire::ClientMessage submit(const std::string& text, const std::string& mode) {
  tandem::wire::ClientMessage m;
  auto* s = m.mutable_submit();
  s->set_request_id("seed");
  s->set_text(text);
  s->set_mode(mode);
  s->set_max_tokens(16);
  return m;
}

void client_frames() {
  seed("client_frame", "text", submit("Once upon a time", "ar").SerializeAsString());
  tandem::wire::ClientMessage m = submit("Lily and Tom", "chain");
  m.mutable_submit()->add_stop("Tom");
  m.mutable_submit()->add_stop("\n\n");
  m.mutable_submit()->mutable_sampling()->set_temperature(0.7f);
  m.mutable_submit()->mutable_sampling()->set_top_p(0.9f);
  m.mutable_submit()->mutable_sampling()->set_seed(7);
  seed("client_frame", "stops_sampling", m.SerializeAsString());
  m = submit("", "lookup");
  for (int id : {1, 439, 261, 399}) m.mutable_submit()->mutable_ids()->add_ids(id);
  seed("client_frame", "ids", m.SerializeAsString());
  m = submit("", "recycle");
  auto* turn = m.mutable_submit()->add_messages();
  turn->set_role("user");
  turn->set_content("Tell me a story");
  m.mutable_submit()->set_chat(true);
  seed("client_frame", "chat", m.SerializeAsString());
}

void tree_frames() {
  tandem::TokenTree tree;
  const int a = tree.add(10, -1, 0.9f), b = tree.add(11, a, 0.5f);
  tree.add(12, a, 0.3f);
  tree.add(13, b, 0.7f);
  seed("tree_wire", "tree", tandem::tree_to_wire(tree, 1, 5).SerializeAsString());
  // A sampled request's tree: the children of the root and of node a drawn from proposals.
  tree.set_proposal(-1, {{10, 0.75f}, {20, 0.25f}});
  tree.set_proposal(a, {{11, 0.5f}, {12, 0.3f}, {21, 0.2f}});
  seed("tree_wire", "sampled_tree", tandem::tree_to_wire(tree, 1, 5).SerializeAsString());
}

void shard_frames() {
  auto framed = [](const tandem::wire::ShardRequest& r) {
    const std::string bytes = r.SerializeAsString();
    return std::string{char(bytes.size() >> 8), char(bytes.size() & 255)} + bytes;
  };
  tandem::wire::ShardRequest open, store, attend, release;
  auto* o = open.mutable_open();
  o->set_request_id(1), o->set_n_layers(1), o->set_n_heads(2), o->set_n_kv_heads(1), o->set_head_dim(4);
  o->set_segment(2), o->set_scale(0.5f);
  auto* s = store.mutable_store();
  s->set_request_id(1), s->set_first(0);
  s->set_keys(std::string(2 * 4 * 4, '\x01')), s->set_values(std::string(2 * 4 * 4, '\x02'));
  auto* a = attend.mutable_attend();
  a->set_request_id(1), a->set_layer(0), a->set_sequence(1), a->add_first(0), a->add_end(2);
  a->set_q(std::string(2 * 4 * 4, '\x03'));
  release.mutable_release()->set_request_id(1);
  seed("shard_message", "open_store_attend_release", framed(open) + framed(store) + framed(attend) + framed(release));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds DIR\n";
    return 2;
  }
  root = argv[1];
  seed("gguf", "tiny_llama", tandem::test::tiny_llama().bytes());
  seed("llama2c", "tiny", tiny_llama2c());
  seed("tokenizer", "stories", std::string(1, '\x02') + "Once upon a time, there was a little girl.");
  seed("tokenizer", "qwen_special",
       std::string(1, '\x05') + "<|im_start|>user\ndef f(x):\n\treturn x**2 # é 漢字<|im_end|>");
  client_frames();
  tree_frames();
  shard_frames();
  seed("http_body", "completion",
       std::string(1, '\0') +
           "{\"prompt\":\"Once upon a time\",\"max_tokens\":16,\"temperature\":0.5,\"stop\":[\"\\n\"]}");
  seed("http_body", "chat",
       std::string(1, '\1') +
           "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true,\"n\":1,\"top_p\":0.9,\"seed\":3}");
  seed("http_request", "keyed_chunked",
       std::string(1, '\1') +
           "POST /v1/completions?x=1 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer sk-fuzz-0123456789abcdef\r\n"
           "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n");
  seed("http_request", "length",
       std::string(1, '\0') + "POST /v1/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
  seed(
      "http_request", "gzip",
      std::string(1, '\0') + "POST /v1/completions HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc");
  seed("http_request", "health", std::string(1, '\1') + "GET /health HTTP/1.0\r\n\r\n");
  seed("config", "cluster", "# a comment\nmodel = stories260K\nthreads = 2\ntemperature = 0.5\ninsecure = true\n");
  return 0;
}
