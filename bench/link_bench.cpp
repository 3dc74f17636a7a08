// Link benchmark: what moving a token tree, a verdict or a layer's attention partials costs
// over ZeroMQ and over NCCL on one machine. Round trips (a frame out, the same frame back,
// as a tree goes to the verifier and its verdict returns), median of many, and one-way
// bandwidth of large frames.
//   - ZeroMQ: two DEALER sockets over TCP on 127.0.0.1, as transport/channel.cpp's data
//     channels are (one process, an echo thread: the socket path is the same as between
//     processes on one machine);
//   - NCCL: two ranks on GPUs 0 and 1 when there are two (the real drafter-verifier link), else
//     a one-rank link to itself on GPU 0 (NCCL's call and kernel overhead, no transfer between
//     devices: the only NCCL path one GPU allows). Host frames (copied to and from the
//     device) and device buffers (kept on the device) both.
// Sizes: trees of 16, 32, 64 nodes (16 bytes a node, the device layout of speculation/token_tree.h),
// partials of 1, 4, 16 tokens × 12 heads × (128 + 1) floats (Qwen2.5-1.5B's attention).
// With --pass-ms (a verifier pass's time, from the GPU benchmark) it says what share of a
// pass each link's tree round trip is.
//
//   tandem_link_bench [--out link_bench.json] [--pass-ms 8.5] [--quick]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "kernels/device.h"
#include "transport/nccl_channel.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;

struct Size {
  std::string what;
  size_t bytes;
};

std::vector<Size> sizes() {
  std::vector<Size> s;
  for (int nodes : {16, 32, 64}) s.push_back({"tree " + std::to_string(nodes) + " nodes", size_t(nodes) * 16});
  for (int tokens : {1, 4, 16})
    s.push_back({"partials " + std::to_string(tokens) + " tok", size_t(tokens) * 12 * 129 * sizeof(float)});
  return s;
}

// Median microseconds of `reps` calls of `round_trip`, after a few to warm up.
double median_us(int reps, const std::function<bool()>& round_trip) {
  for (int i = 0; i < 5; ++i)
    if (!round_trip()) return -1;
  std::vector<double> us;
  for (int i = 0; i < reps; ++i) {
    const auto start = Clock::now();
    if (!round_trip()) return -1;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

// Bytes per second: `count` calls of `move_one`, each moving `bytes`.
double bandwidth(size_t bytes, int count, const std::function<bool()>& move_one) {
  const auto start = Clock::now();
  for (int i = 0; i < count; ++i)
    if (!move_one()) return -1;
  return double(bytes) * count / std::chrono::duration<double>(Clock::now() - start).count();
}

// ZeroMQ: a DEALER bound on 127.0.0.1 echoing to a DEALER connected to it.
nlohmann::json zeromq(int reps) {
  zmq::context_t context(1);
  zmq::socket_t near(context, zmq::socket_type::dealer), far(context, zmq::socket_type::dealer);
  near.bind("tcp://127.0.0.1:0");
  far.connect(near.get(zmq::sockopt::last_endpoint));
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    zmq::pollitem_t item{far.handle(), 0, ZMQ_POLLIN, 0};
    while (!stop) {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(50)) == 0) continue;
      zmq::message_t frame;
      if (far.recv(frame, zmq::recv_flags::dontwait)) far.send(frame, zmq::send_flags::none);
    }
  });
  nlohmann::json out;
  for (const Size& s : sizes()) {
    std::string frame(s.bytes, 'x');
    out[s.what] = median_us(reps, [&] {
      zmq::message_t back;
      return near.send(zmq::buffer(frame), zmq::send_flags::none) && near.recv(back) && back.size() == s.bytes;
    });
  }
  const size_t big = size_t(4) << 20;
  std::string frame(big, 'x');
  out["bandwidth_GBps"] = bandwidth(big, 50,
                                    [&] {
                                      zmq::message_t back;
                                      return near.send(zmq::buffer(frame), zmq::send_flags::none) && near.recv(back);
                                    }) /
                          2 / 1e9;  // echoed: twice the bytes moved
  stop = true;
  echo.join();
  return out;
}

// NCCL: `out` sends to `back`, which echoes; host frames, then device buffers.
nlohmann::json nccl(int reps) {
  nlohmann::json out;
  std::unique_ptr<NcclChannel> ends[2];
  std::thread echo;
  std::atomic<bool> stop{false};
  if (cuda_device_count() >= 2) {
    const std::string ids = nccl_new_group_ids();
    std::thread other([&] { ends[1] = NcclChannel::join({1, 1, ids, std::chrono::seconds(20), size_t(8) << 20}); });
    ends[0] = NcclChannel::join({0, 0, ids, std::chrono::seconds(20), size_t(8) << 20});
    other.join();
    echo = std::thread([&] {
      while (!stop)
        if (auto frame = ends[1]->receive(std::chrono::milliseconds(50))) ends[1]->send(*frame);
    });
    out["link"] = "two ranks, cuda:0 and cuda:1";
  } else {
    ends[0] = NcclChannel::loopback(0, size_t(8) << 20);
    out["link"] = "one rank on cuda:0, to itself (one GPU: no transfer between devices)";
  }
  NcclChannel& link = *ends[0];
  void *from = nullptr, *to = nullptr;
  cudaMalloc(&from, size_t(8) << 20);
  cudaMalloc(&to, size_t(8) << 20);
  for (const Size& s : sizes()) {
    std::string frame(s.bytes, 'x');
    out["host frames"][s.what] = median_us(reps, [&] {
      auto back = link.send(frame) ? link.receive(std::chrono::seconds(5)) : std::nullopt;
      return back && back->size() == s.bytes;
    });
    out["device buffers"][s.what] = median_us(reps, [&] {
      return link.send_device(from, s.bytes) &&
             link.receive_device(to, size_t(8) << 20, std::chrono::seconds(5)) == s.bytes;
    });
  }
  const size_t big = size_t(4) << 20;
  out["bandwidth_GBps"] =
      bandwidth(
          big, 50,
          [&] { return link.send_device(from, big) && link.receive_device(to, big, std::chrono::seconds(5)) == big; }) /
      (ends[1] ? 2 : 1) / 1e9;
  stop = true;
  if (echo.joinable()) echo.join();
  cudaFree(from);
  cudaFree(to);
  return out;
}

int run(int argc, char** argv) {
  std::string out_path;
  double pass_ms = 0;
  int reps = 2000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out" && i + 1 < argc)
      out_path = argv[++i];
    else if (a == "--pass-ms" && i + 1 < argc)
      pass_ms = std::atof(argv[++i]);
    else if (a == "--quick")
      reps = 200;
    else {
      std::fprintf(stderr, "usage: tandem_link_bench [--out FILE] [--pass-ms MS] [--quick]\n");
      return 2;
    }
  }
  nlohmann::json report;
  report["device"] = usable_devices();
  report["round_trip_us"]["zeromq"] = zeromq(reps);
  if (std::string why = nccl_unavailable_reason(); why.empty()) {
    report["nccl_version"] = nccl_version();
    report["round_trip_us"]["nccl"] = nccl(reps);
  } else {
    report["nccl_skipped"] = why;
  }
  std::printf("%-22s %12s %14s %14s\n", "round trip (median us)", "zeromq", "nccl host", "nccl device");
  const nlohmann::json& rt = report["round_trip_us"];
  for (const Size& s : sizes()) {
    auto cell = [&](const std::string& table) -> std::string {
      const nlohmann::json::json_pointer at(table + "/" + s.what);
      if (!rt.contains(at)) return "-";
      char text[32];
      std::snprintf(text, sizeof text, "%.1f", rt[at].get<double>());
      return text;
    };
    std::printf("%-22s %12s %14s %14s\n", s.what.c_str(), cell("/zeromq").c_str(), cell("/nccl/host frames").c_str(),
                cell("/nccl/device buffers").c_str());
  }
  std::printf("bandwidth one way, 4 MiB frames: zeromq %.2f GB/s", rt["zeromq"]["bandwidth_GBps"].get<double>());
  if (rt.contains("nccl")) std::printf(", nccl %.2f GB/s", rt["nccl"]["bandwidth_GBps"].get<double>());
  std::printf("\n");
  if (report.contains("nccl_skipped"))
    std::printf("nccl skipped: %s\n", report["nccl_skipped"].get<std::string>().c_str());
  if (pass_ms > 0) {
    const double zmq_us = rt["zeromq"]["tree 64 nodes"].get<double>();
    report["tree_round_trip_share_of_pass"]["zeromq"] = zmq_us / (pass_ms * 1000);
    std::printf("a 64-node tree's round trip per %.2f ms verifier pass: zeromq %.1f%%", pass_ms,
                100 * zmq_us / (pass_ms * 1000));
    if (rt.contains("nccl")) {
      const double nccl_us = rt["nccl"]["device buffers"]["tree 64 nodes"].get<double>();
      report["tree_round_trip_share_of_pass"]["nccl"] = nccl_us / (pass_ms * 1000);
      std::printf(", nccl %.1f%% (saves %.1f us a pass)", 100 * nccl_us / (pass_ms * 1000), zmq_us - nccl_us);
    }
    std::printf("\n");
  }
  if (!out_path.empty()) std::ofstream(out_path) << report.dump(2) << "\n";
  return 0;
}

}  // namespace
}  // namespace tandem

int main(int argc, char** argv) { return tandem::run(argc, argv); }
