// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/offload_bench.h"

#include <algorithm>
#include <cstring>
#include <iomanip>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "bench/sim_target.h"
#include "lightloop/memory_offload/kv_block_manager.h"
#include "lightloop/runtime/fabric.h"
#include "lightloop/runtime/remote_memory.h"

namespace lightloop::testbench {
namespace {

namespace rt = lightloop::runtime;
namespace mo = lightloop::memory_offload;

// A model with 32 layers, 8 KV heads of 128 in bf16: 128 KiB of K and V a token.
constexpr uint64_t kTokenBytes = 2ull * 32 * 8 * 128 * 2;

mo::KvShape ShapeFor(uint64_t block_bytes) {
  int64_t tokens = static_cast<int64_t>(std::max<uint64_t>(1, block_bytes / kTokenBytes));
  return {.layers = 32, .kv_heads = 8, .head_dim = 128, .dtype_bytes = 2, .block_tokens = tokens};
}

// Computes for `ns` while the KV cache's transfers go on (see ComputeFor).
rt::Status Compute(const rt::Clock& clock, mo::KvBlockManager& kv, uint64_t ns) {
  return ComputeFor(
      clock, [&kv] { return kv.Progress(); }, ns);
}

// The decode step computing layer by layer: start the fetch, then for each
// layer wait for it (WaitLayer) and compute it (a layer's share of
// `compute_ns`). Under layer_major layer l computes while later layers are
// on the wire; under block_major the first wait is for every block. Returns
// the best of `repeats`, in picoseconds on the clock.
rt::StatusOr<uint64_t> LayerPipelinedStep(const rt::Clock& clock, mo::KvBlockManager& kv, mo::SequenceId seq,
                                          uint64_t compute_ns, int repeats) {
  const int64_t layers = kv.options().shape.layers;
  const uint64_t layer_ns = compute_ns / static_cast<uint64_t>(layers);
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < repeats; ++i) {
    LL_RETURN_IF_ERROR(kv.EvictTo(0));
    const uint64_t t0 = clock.now_ps();
    LL_ASSIGN_OR_RETURN(uint64_t fetch, kv.StartFetch(seq));
    for (int64_t l = 0; l < layers; ++l) {
      LL_ASSIGN_OR_RETURN(mo::FetchOutcome lo, kv.WaitLayer(fetch, l, mo::Prefetch::kWaitComplete));
      if (!lo.lost.empty()) return rt::Internal("bench offload: a layer came back lost");
      LL_RETURN_IF_ERROR(Compute(clock, kv, layer_ns));
    }
    LL_ASSIGN_OR_RETURN(mo::FetchOutcome out, kv.FinishFetch(fetch, mo::Prefetch::kWaitComplete));
    best = std::min(best, clock.now_ps() - t0);
    if (!out.lost.empty()) return rt::Internal("bench offload: blocks came back lost");
  }
  return best;
}

// A prefill of `blocks` blocks whose layers compute for `compute_ns` in
// all, written back after the last layer (MarkWritten, Offload) or layer by
// layer as each is computed (OffloadLayer, then WaitOffload for the last).
// Returns the best of `repeats` of each, in picoseconds on the clock.
rt::StatusOr<std::pair<uint64_t, uint64_t>> PrefillWriteBack(const rt::Clock& clock, mo::KvBlockManager& kv,
                                                             uint64_t blocks, uint64_t compute_ns,
                                                             int repeats) {
  const int64_t layers = kv.options().shape.layers;
  const uint64_t layer_ns = compute_ns / static_cast<uint64_t>(layers), bb = kv.options().shape.block_bytes();
  uint64_t best[2] = {UINT64_MAX, UINT64_MAX};
  for (int i = 0; i < repeats; ++i) {
    for (int layered = 0; layered < 2; ++layered) {
      mo::SequenceId s = kv.NewSequence();
      for (uint64_t b = 0; b < blocks; ++b) {
        LL_ASSIGN_OR_RETURN(mo::AppendResult a, kv.AppendBlock(s, 0));
        LL_ASSIGN_OR_RETURN(unsigned char* p, kv.Data(a.block));
        std::memset(p, static_cast<int>(b), bb);
      }
      const uint64_t t0 = clock.now_ps();
      for (int64_t l = 0; l < layers; ++l) {
        LL_RETURN_IF_ERROR(Compute(clock, kv, layer_ns));
        if (layered) LL_RETURN_IF_ERROR(kv.OffloadLayer(s, l));
      }
      if (layered) {
        LL_RETURN_IF_ERROR(kv.WaitOffload());
      } else {
        for (mo::BlockId id : kv.BlockTable(s)) LL_RETURN_IF_ERROR(kv.MarkWritten(id));
        LL_RETURN_IF_ERROR(kv.Offload(s));
      }
      best[layered] = std::min(best[layered], clock.now_ps() - t0);
      LL_RETURN_IF_ERROR(kv.Free(s));
    }
  }
  return std::make_pair(best[0], best[1]);
}

// The checksum of every block of `buf` in turn (blocks of `block_bytes`),
// as a verified fetch takes them; the best of `repeats`, in picoseconds.
uint64_t HashPass(const rt::Clock& clock, const std::vector<unsigned char>& buf, uint64_t block_bytes,
                  int repeats) {
  uint64_t best = UINT64_MAX, sink = 0;
  for (int i = 0; i < repeats; ++i) {
    const uint64_t t0 = clock.now_ps();
    for (uint64_t at = 0; at + block_bytes <= buf.size(); at += block_bytes) {
      sink ^= mo::BlockChecksum(buf.data() + at, block_bytes);
    }
    best = std::min(best, clock.now_ps() - t0);
  }
  volatile uint64_t keep = sink;  // the hashes are used: not optimised away
  (void)keep;
  return best;
}

// Two stages one after the other on one thread: 1 / (1/a + 1/b).
double InSeries(double a_gbps, double b_gbps) {
  return a_gbps <= 0 || b_gbps <= 0 ? 0 : 1.0 / (1.0 / a_gbps + 1.0 / b_gbps);
}

}  // namespace

rt::StatusOr<OffloadBenchReport> RunOffloadBench(const OffloadBenchOptions& o) {
  if (o.target != "nic" && o.target != "sim" && o.target != "fpga") {
    return rt::InvalidArgument("--target: '" + o.target + "' is not one of nic, sim, fpga");
  }
  if (o.target != "fpga" && !o.board.empty()) return rt::InvalidArgument("--board applies to --target fpga");
  if (o.blocks == 0 || o.block_bytes < kTokenBytes) {
    return rt::InvalidArgument("--blocks must be at least 1 and --block-size at least " +
                               std::to_string(kTokenBytes) + " bytes (one token)");
  }
  if (o.depth == 0 || o.repeats < 1) return rt::InvalidArgument("--depth and --repeats must be at least 1");
  LL_RETURN_IF_ERROR(mo::ParseBlockLayout(o.layout).status());  // before a memnode starts
  const bool sim = InProcessTarget(o.target);
  LL_ASSIGN_OR_RETURN(std::optional<SimTarget> sim_target,
                      PrepareInProcessTarget(o.target, o.config, o.board));
  const mo::KvShape shape = ShapeFor(o.block_bytes);
  const uint64_t bb = shape.block_bytes();
  const uint64_t capacity = 3 * o.blocks * bb + (64 << 20);
  LL_ASSIGN_OR_RETURN(BenchMemnode node, StartBenchMemnode(sim, "", o.provider, o.memnode_binary, capacity));
  LL_ASSIGN_OR_RETURN(auto client, rt::RemoteMemoryClient::Connect(
                                       BenchClientOptions(node, sim, o.provider, "offload-bench", o.depth)));
  const rt::Clock& clock = client->clock();

  OffloadBenchReport r;
  r.target = o.target;
  r.time = clock.kind();
  r.provider = client->provider();
  r.codec = o.codec;
  r.layout = o.layout;
  r.block_bytes = bb;
  r.blocks = o.blocks;
  const uint64_t total = o.blocks * bb;

  // The runtime alone, block-sized operations.
  {
    LL_ASSIGN_OR_RETURN(rt::RemoteRegion region, client->Allocate(total, "raw"));
    std::vector<unsigned char> buf(total, 0x5a);
    LL_RETURN_IF_ERROR(client->RegisterBuffer(buf.data(), buf.size()));
    uint64_t best_w = UINT64_MAX, best_r = UINT64_MAX;
    for (int i = 0; i < o.repeats; ++i) {
      LL_ASSIGN_OR_RETURN(uint64_t w, RawPass(*client, region, true, buf, bb, o.blocks, o.depth));
      LL_ASSIGN_OR_RETURN(uint64_t rd, RawPass(*client, region, false, buf, bb, o.blocks, o.depth));
      best_w = std::min(best_w, w);
      best_r = std::min(best_r, rd);
    }
    r.raw_write_gbps = Gbps(total, best_w);
    r.raw_read_gbps = Gbps(total, best_r);
    r.checksums = o.checksums;
    r.verified_write_bound_gbps = r.raw_write_gbps;
    r.verified_read_bound_gbps = r.raw_read_gbps;
    if (o.checksums && !clock.is_virtual()) {
      r.hash_gbps = Gbps(total, HashPass(clock, buf, bb, o.repeats));
      r.verified_write_bound_gbps = InSeries(r.raw_write_gbps, r.hash_gbps);
      r.verified_read_bound_gbps = InSeries(r.raw_read_gbps, r.hash_gbps);
    }
    LL_RETURN_IF_ERROR(client->UnregisterBuffer(buf.data()));
    LL_RETURN_IF_ERROR(client->Free(region));
  }

  // Through the KV cache: every block fits locally; the remote tier holds them all.
  mo::KvBlockManager::Options ko{
      .shape = shape, .local_blocks = o.blocks, .high_watermark = 1.0, .codec = o.codec, .layout = o.layout};
  ko.now_ns = [&clock] { return clock.now_ns(); };
  ko.checksums = o.checksums;
  LL_ASSIGN_OR_RETURN(uint64_t slot_bytes, mo::KvBlockManager::RemoteSlotBytes(ko));
  LL_ASSIGN_OR_RETURN(uint64_t slots, mo::KvBlockManager::RemoteSlots(ko, o.blocks));
  LL_ASSIGN_OR_RETURN(auto tier, mo::MemnodeTier::Create({client.get()}, slot_bytes, slots));
  LL_ASSIGN_OR_RETURN(auto kv, mo::KvBlockManager::Create(ko, std::move(tier)));
  uint64_t best_off = UINT64_MAX, best_fetch = UINT64_MAX;
  mo::SequenceId seq = 0;
  for (int i = 0; i < o.repeats; ++i) {
    if (seq != 0) LL_RETURN_IF_ERROR(kv->Free(seq));
    seq = kv->NewSequence();
    for (uint64_t b = 0; b < o.blocks; ++b) {
      LL_ASSIGN_OR_RETURN(mo::AppendResult a, kv->AppendBlock(seq, 0));
      LL_ASSIGN_OR_RETURN(unsigned char* p, kv->Data(a.block));
      std::memset(p, static_cast<int>(b), bb);
      LL_RETURN_IF_ERROR(kv->MarkWritten(a.block));
    }
    uint64_t t0 = clock.now_ps();
    LL_RETURN_IF_ERROR(kv->Offload(seq));
    best_off = std::min(best_off, clock.now_ps() - t0);
    LL_RETURN_IF_ERROR(kv->EvictTo(0));  // already offloaded: nothing is written
    t0 = clock.now_ps();
    LL_ASSIGN_OR_RETURN(std::vector<mo::BlockId> lost, kv->Fetch(seq));
    best_fetch = std::min(best_fetch, clock.now_ps() - t0);
    if (!lost.empty())
      return rt::Internal("bench offload: " + std::to_string(lost.size()) + " blocks came back lost");
  }
  r.offload_gbps = Gbps(total, best_off);
  r.fetch_gbps = Gbps(total, best_fetch);
  r.bytes_saved = kv->stats().bytes_saved;

  // A decode step whose KV is remote: compute as long as the transfer.
  const uint64_t compute_ns = best_fetch / 1000;
  r.compute_us = static_cast<double>(compute_ns) / 1e3;
  r.step_bound_us = static_cast<double>(std::max(compute_ns * 1000, best_fetch)) / 1e6;
  uint64_t best_plain = UINT64_MAX, best_prefetch = UINT64_MAX;
  for (int i = 0; i < o.repeats; ++i) {
    LL_RETURN_IF_ERROR(kv->EvictTo(0));
    uint64_t t0 = clock.now_ps();
    LL_ASSIGN_OR_RETURN(std::vector<mo::BlockId> lost, kv->Fetch(seq));
    LL_RETURN_IF_ERROR(Compute(clock, *kv, compute_ns));
    best_plain = std::min(best_plain, clock.now_ps() - t0);
    LL_RETURN_IF_ERROR(kv->EvictTo(0));
    t0 = clock.now_ps();
    LL_ASSIGN_OR_RETURN(uint64_t fetch, kv->StartFetch(seq));
    LL_RETURN_IF_ERROR(Compute(clock, *kv, compute_ns));
    LL_ASSIGN_OR_RETURN(mo::FetchOutcome out, kv->FinishFetch(fetch, mo::Prefetch::kWaitComplete));
    best_prefetch = std::min(best_prefetch, clock.now_ps() - t0);
    if (!lost.empty() || !out.lost.empty()) return rt::Internal("bench offload: blocks came back lost");
  }
  r.step_no_prefetch_us = static_cast<double>(best_plain) / 1e6;
  r.step_prefetch_us = static_cast<double>(best_prefetch) / 1e6;
  LL_ASSIGN_OR_RETURN(uint64_t layered, LayerPipelinedStep(clock, *kv, seq, compute_ns, o.repeats));
  r.step_layer_pipelined_us = static_cast<double>(layered) / 1e6;
  // The prefill's write-back: the decode's sequence leaves room for it.
  LL_RETURN_IF_ERROR(kv->Free(seq));
  LL_ASSIGN_OR_RETURN(auto prefill, PrefillWriteBack(clock, *kv, o.blocks, compute_ns, o.repeats));
  r.prefill_offload_after_us = static_cast<double>(prefill.first) / 1e6;
  r.prefill_offload_layered_us = static_cast<double>(prefill.second) / 1e6;
  return r;
}

std::string FormatTable(const OffloadBenchReport& r) {
  std::ostringstream out;
  out << "lightloop bench offload: target " << r.target << " (" << r.time << " time), provider " << r.provider
      << ", codec " << r.codec << ", layout " << r.layout << ", " << r.blocks << " blocks of "
      << r.block_bytes / 1024 << " KiB\n"
      << std::fixed << std::setprecision(2);
  out << "offload  " << r.offload_gbps << " GB/s  vs raw write " << r.raw_write_gbps << " GB/s  ("
      << std::setprecision(3) << r.offload_gbps / r.raw_write_gbps << ")\n";
  out << std::setprecision(2) << "fetch    " << r.fetch_gbps << " GB/s  vs raw read  " << r.raw_read_gbps
      << " GB/s  (" << std::setprecision(3) << r.fetch_gbps / r.raw_read_gbps << ")\n";
  if (!r.checksums) {
    out << "checksums off: the layer neither takes nor verifies them\n";
  } else if (r.hash_gbps > 0) {
    out << std::setprecision(2) << "integrity: XXH3 on this thread " << r.hash_gbps
        << " GB/s; raw with it in series: write " << r.verified_write_bound_gbps << ", read "
        << r.verified_read_bound_gbps << " GB/s; offload " << std::setprecision(3)
        << r.offload_gbps / r.verified_write_bound_gbps << ", fetch "
        << r.fetch_gbps / r.verified_read_bound_gbps << " of those\n";
  }
  out << std::setprecision(1) << "decode step, KV remote, compute " << r.compute_us << " us: no prefetch "
      << r.step_no_prefetch_us << " us, prefetch " << r.step_prefetch_us
      << " us, bound max(compute, transfer) " << r.step_bound_us << " us (" << std::setprecision(3)
      << r.step_prefetch_us / r.step_bound_us << " of it)\n";
  out << std::setprecision(1)
      << "decode step, layer by layer (WaitLayer, compute the layer): " << r.step_layer_pipelined_us
      << " us (" << std::setprecision(3) << r.step_layer_pipelined_us / r.step_bound_us << " of the bound)\n";
  out << std::setprecision(1) << "prefill, same compute: write-back after it " << r.prefill_offload_after_us
      << " us, layer by layer (OffloadLayer) " << r.prefill_offload_layered_us << " us ("
      << std::setprecision(3) << r.prefill_offload_layered_us / r.step_bound_us << " of the bound)\n";
  return out.str();
}

nlohmann::json ToJson(const OffloadBenchReport& r) {
  return {{"target", r.target},
          {"time", r.time},
          {"provider", r.provider},
          {"codec", r.codec},
          {"layout", r.layout},
          {"block_bytes", r.block_bytes},
          {"blocks", r.blocks},
          {"raw_write_gbps", r.raw_write_gbps},
          {"raw_read_gbps", r.raw_read_gbps},
          {"offload_gbps", r.offload_gbps},
          {"fetch_gbps", r.fetch_gbps},
          {"offload_ratio", r.offload_gbps / r.raw_write_gbps},
          {"fetch_ratio", r.fetch_gbps / r.raw_read_gbps},
          {"compute_us", r.compute_us},
          {"step_no_prefetch_us", r.step_no_prefetch_us},
          {"step_prefetch_us", r.step_prefetch_us},
          {"step_bound_us", r.step_bound_us},
          {"step_layer_pipelined_us", r.step_layer_pipelined_us},
          {"prefill_offload_after_us", r.prefill_offload_after_us},
          {"prefill_offload_layered_us", r.prefill_offload_layered_us},
          {"bytes_saved", r.bytes_saved},
          {"checksums", r.checksums},
          {"hash_gbps", r.hash_gbps},
          {"verified_write_bound_gbps", r.verified_write_bound_gbps},
          {"verified_read_bound_gbps", r.verified_read_bound_gbps}};
}

}  // namespace lightloop::testbench
