// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/weights_bench.h"

#include <algorithm>
#include <iomanip>
#include <numeric>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "bench/sim_target.h"
#include "lightloop/memory_offload/remote_tier.h"
#include "lightloop/memory_offload/weight_streamer.h"
#include "lightloop/runtime/remote_memory.h"

namespace lightloop::testbench {
namespace {

namespace rt = lightloop::runtime;
namespace mo = lightloop::memory_offload;

// Layer l's bytes: every byte l + 1 (mod 256), so a layer delivered in the
// wrong buffer or not at all shows.
unsigned char Pattern(int64_t layer) {
  return static_cast<unsigned char>(layer + 1);
}

struct Timed {
  uint64_t ps = UINT64_MAX;  // the timed tokens, in all
  mo::WeightStats stats;     // accumulated over them
};

// One token: every layer in order, acquired (the streamer waits only for
// what has not landed) and computed for `compute_ns`.
rt::Status Token(const rt::Clock& clock, mo::WeightStreamer& ws, const WeightsBenchOptions& o,
                 uint64_t compute_ns) {
  for (int64_t l = 0; l < o.layers; ++l) {
    LL_ASSIGN_OR_RETURN(const unsigned char* w, ws.Acquire(l));
    if (w[0] != Pattern(l) || w[o.layer_bytes - 1] != Pattern(l)) {
      return rt::Internal("bench weights: layer " + std::to_string(l) +
                          " came back with another layer's bytes");
    }
    if (compute_ns > 0)
      LL_RETURN_IF_ERROR(ComputeFor(
          clock, [&ws] { return ws.Progress(); }, compute_ns));
  }
  return rt::Status::Ok();
}

// A streamer of `buffers` over a fresh tier holding the model: one token
// to fill the pipeline, then `tokens` timed; the best of `repeats`.
rt::StatusOr<Timed> Stream(rt::RemoteMemoryClient& client, const WeightsBenchOptions& o, int64_t buffers,
                           uint64_t compute_ns) {
  const rt::Clock& clock = client.clock();
  LL_ASSIGN_OR_RETURN(auto tier, mo::MemnodeTier::Create({&client}, o.layer_bytes, o.layers));
  mo::WeightStreamer::Options wo{.layer_bytes = o.layer_bytes, .layers = o.layers, .buffers = buffers};
  wo.pinned.resize(static_cast<size_t>(o.pinned));
  std::iota(wo.pinned.begin(), wo.pinned.end(), 0);
  wo.now_ns = [&clock] { return clock.now_ns(); };
  LL_ASSIGN_OR_RETURN(auto ws, mo::WeightStreamer::Create(wo, std::move(tier)));
  std::vector<unsigned char> layer(o.layer_bytes);
  for (int64_t l = 0; l < o.layers; ++l) {
    std::fill(layer.begin(), layer.end(), Pattern(l));
    LL_RETURN_IF_ERROR(ws->Store(l, layer.data()));
  }
  LL_RETURN_IF_ERROR(ws->LoadPinned());
  LL_RETURN_IF_ERROR(Token(clock, *ws, o, compute_ns));
  Timed best;
  for (int i = 0; i < o.repeats; ++i) {
    const mo::WeightStats before = ws->stats();
    const uint64_t t0 = clock.now_ps();
    for (int t = 0; t < o.tokens; ++t) LL_RETURN_IF_ERROR(Token(clock, *ws, o, compute_ns));
    const uint64_t ps = clock.now_ps() - t0;
    if (ps < best.ps) {
      best.ps = ps;
      best.stats.fetches = ws->stats().fetches - before.fetches;
      best.stats.bytes_fetched = ws->stats().bytes_fetched - before.bytes_fetched;
      best.stats.stalls = ws->stats().stalls - before.stalls;
      best.stats.stall_ns = ws->stats().stall_ns - before.stall_ns;
    }
  }
  return best;
}

}  // namespace

rt::StatusOr<WeightsBenchReport> RunWeightsBench(const WeightsBenchOptions& o) {
  if (o.target != "nic" && o.target != "sim" && o.target != "fpga") {
    return rt::InvalidArgument("--target: '" + o.target + "' is not one of nic, sim, fpga");
  }
  if (o.layers < 1 || o.layer_bytes == 0)
    return rt::InvalidArgument("--layers and --layer-size must be positive");
  if (o.pinned < 0 || o.pinned >= o.layers) {
    return rt::InvalidArgument("--pinned: " + std::to_string(o.pinned) + " is not in [0, " +
                               std::to_string(o.layers) + "): at least one layer must stream");
  }
  if (o.buffers.empty()) return rt::InvalidArgument("--buffers: no buffer count");
  for (int64_t b : o.buffers) {
    if (b < 1) return rt::InvalidArgument("--buffers: " + std::to_string(b) + " is not at least 1");
  }
  if (o.tokens < 1 || o.repeats < 1) return rt::InvalidArgument("--tokens and --repeats must be at least 1");
  const bool sim = InProcessTarget(o.target);
  LL_ASSIGN_OR_RETURN(std::optional<SimTarget> sim_target,
                      PrepareInProcessTarget(o.target, o.config, o.board));
  const uint64_t model = static_cast<uint64_t>(o.layers) * o.layer_bytes;
  LL_ASSIGN_OR_RETURN(BenchMemnode node,
                      StartBenchMemnode(sim, "", o.provider, o.memnode_binary, 2 * model + (64 << 20)));
  const int64_t max_buffers = *std::max_element(o.buffers.begin(), o.buffers.end());
  // A streamer of B buffers keeps up to B - 1 layers in flight.
  const size_t depth = static_cast<size_t>(std::max<int64_t>(1, max_buffers - 1));
  LL_ASSIGN_OR_RETURN(auto client, rt::RemoteMemoryClient::Connect(BenchClientOptions(
                                       node, sim, o.provider, "weights-bench", std::max<size_t>(16, depth))));
  const rt::Clock& clock = client->clock();

  WeightsBenchReport r;
  r.target = o.target;
  r.time = clock.kind();
  r.provider = client->provider();
  r.layer_bytes = o.layer_bytes;
  r.layers = o.layers;
  r.pinned = o.pinned;

  // The runtime alone: every layer read once, layer-sized, `depth` in
  // flight, into as many layer buffers as the largest streamer has.
  uint64_t best_raw = UINT64_MAX;
  {
    LL_ASSIGN_OR_RETURN(rt::RemoteRegion region, client->Allocate(model, "raw"));
    std::vector<unsigned char> buf(static_cast<uint64_t>(std::min(max_buffers, o.layers)) * o.layer_bytes,
                                   0x5a);
    LL_RETURN_IF_ERROR(client->RegisterBuffer(buf.data(), buf.size()));
    for (int i = 0; i < o.repeats * o.tokens; ++i) {  // as many passes as the streamer's timed tokens
      LL_ASSIGN_OR_RETURN(uint64_t ps, RawPass(*client, region, false, buf, o.layer_bytes,
                                               static_cast<uint64_t>(o.layers), depth));
      best_raw = std::min(best_raw, ps);
    }
    LL_RETURN_IF_ERROR(client->UnregisterBuffer(buf.data()));
    LL_RETURN_IF_ERROR(client->Free(region));
  }
  r.raw_read_gbps = Gbps(model, best_raw);
  const uint64_t layer_ps = best_raw / static_cast<uint64_t>(o.layers);
  const uint64_t compute_ns = o.compute_ns > 0 ? o.compute_ns : std::max<uint64_t>(1, layer_ps / 1000);
  const uint64_t streamed = static_cast<uint64_t>(o.layers - o.pinned);
  r.compute_us = static_cast<double>(compute_ns) / 1e3;
  r.bound_us = static_cast<double>(
                   std::max(static_cast<uint64_t>(o.layers) * compute_ns * 1000, streamed * layer_ps)) /
               1e6;

  // Streaming alone: no compute, the most buffers.
  {
    LL_ASSIGN_OR_RETURN(Timed t, Stream(*client, o, max_buffers, 0));
    r.stream_gbps = Gbps(t.stats.bytes_fetched, t.ps);
  }
  for (int64_t b : o.buffers) {
    LL_ASSIGN_OR_RETURN(Timed t, Stream(*client, o, b, compute_ns));
    WeightsBenchLine line;
    line.buffers = b;
    line.token_us = static_cast<double>(t.ps) / 1e6 / o.tokens;
    line.ratio = line.token_us / r.bound_us;
    line.stalls = t.stats.stalls / static_cast<uint64_t>(o.tokens);
    line.stall_us = static_cast<double>(t.stats.stall_ns) / 1e3 / o.tokens;
    r.lines.push_back(line);
  }
  return r;
}

std::string FormatTable(const WeightsBenchReport& r) {
  std::ostringstream out;
  out << "lightloop bench weights: target " << r.target << " (" << r.time << " time), provider " << r.provider
      << ", " << r.layers << " layers of " << r.layer_bytes / 1024 << " KiB, " << r.pinned << " pinned\n"
      << std::fixed << std::setprecision(2);
  out << "streamed, no compute " << r.stream_gbps << " GB/s  vs raw read " << r.raw_read_gbps << " GB/s  ("
      << std::setprecision(3) << r.stream_gbps / r.raw_read_gbps << ")\n";
  out << std::setprecision(1) << "a token: compute " << r.compute_us
      << " us a layer, bound max(compute, transfer) " << r.bound_us << " us\n";
  out << "buffers  token us      of the bound  stalls  stall us\n";
  for (const WeightsBenchLine& l : r.lines) {
    out << std::left << std::setw(9) << l.buffers << std::setw(14) << std::setprecision(1) << l.token_us
        << std::setw(14) << std::setprecision(3) << l.ratio << std::setw(8) << l.stalls
        << std::setprecision(1) << l.stall_us << std::right << "\n";
  }
  return out.str();
}

nlohmann::json ToJson(const WeightsBenchReport& r) {
  nlohmann::json lines = nlohmann::json::array();
  for (const WeightsBenchLine& l : r.lines) {
    lines.push_back({{"buffers", l.buffers},
                     {"token_us", l.token_us},
                     {"ratio", l.ratio},
                     {"stalls", l.stalls},
                     {"stall_us", l.stall_us}});
  }
  return {{"target", r.target},
          {"time", r.time},
          {"provider", r.provider},
          {"layer_bytes", r.layer_bytes},
          {"layers", r.layers},
          {"pinned", r.pinned},
          {"raw_read_gbps", r.raw_read_gbps},
          {"stream_gbps", r.stream_gbps},
          {"stream_ratio", r.stream_gbps / r.raw_read_gbps},
          {"compute_us", r.compute_us},
          {"bound_us", r.bound_us},
          {"buffers", lines}};
}

}  // namespace lightloop::testbench
