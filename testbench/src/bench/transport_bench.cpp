// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/transport_bench.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <iomanip>
#include <memory>
#include <optional>
#include <sstream>

#include "bench/sim_target.h"
#include "lightloop/runtime/fabric.h"
#include "lightloop/runtime/remote_memory.h"
#include "lightloop/runtime/size.h"

namespace lightloop::testbench {
namespace rt = lightloop::runtime;
using WallClock = std::chrono::steady_clock;  // the memcpy baseline and wall_s

namespace {

constexpr uint64_t kBaselineBlock = 1 << 20;
constexpr uint64_t kBaselineWorkingSet = 256ull << 20;
constexpr uint64_t kMinWorkingSet = 64ull << 20;
// The virtual board moves ~24 MB of DMA per wall second: a smaller floor.
constexpr uint64_t kMinBoardWorkingSet = 4ull << 20;
constexpr uint64_t kLatencySize = 64;

double Seconds(WallClock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Page-touched buffer, so first-touch faults stay out of the measurement.
std::unique_ptr<char[]> MakeBuffer(uint64_t bytes) {
  std::unique_ptr<char[]> buf(new char[bytes]);
  for (uint64_t i = 0; i < bytes; i += 4096) buf[i] = static_cast<char>(i / 4096);
  return buf;
}

uint64_t WorkingSet(uint64_t size, size_t depth, bool board) {
  uint64_t ws = std::max<uint64_t>(size * depth, board ? kMinBoardWorkingSet : kMinWorkingSet);
  return (ws + size - 1) / size * size;
}

// Single-core memcpy of `block`-byte copies cycling over `ws` bytes.
double MemcpyGbps(uint64_t block, uint64_t ws, std::chrono::milliseconds min_time) {
  auto src = MakeBuffer(ws);
  auto dst = MakeBuffer(ws);
  uint64_t slots = ws / block, bytes = 0, i = 0;
  WallClock::time_point start = WallClock::now(), now = start;
  while (now - start < min_time || i < slots) {
    uint64_t off = (i++ % slots) * block;
    std::memcpy(dst.get() + off, src.get() + off, block);
    bytes += block;
    if (i % 16 == 0) now = WallClock::now();
  }
  now = WallClock::now();
  asm volatile("" : : "r"(dst.get()) : "memory");
  return static_cast<double>(bytes) / 1e9 / Seconds(now - start);
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

struct Point {
  bool write;
  uint64_t size;
  size_t depth;
  uint64_t ws;
};

// Keeps `depth` operations of `size` bytes outstanding for at least min_time
// on the client's clock (virtual on the sim target, picoseconds throughout).
rt::StatusOr<TransportResult> MeasurePoint(rt::RemoteMemoryClient& client, const rt::RemoteRegion& region,
                                           char* buf, const Point& p, std::chrono::milliseconds min_time,
                                           size_t min_ops) {
  const rt::Clock& clock = client.clock();
  const uint64_t min_ps = static_cast<uint64_t>(min_time.count()) * 1'000'000'000;
  uint64_t slots = p.ws / p.size;
  std::deque<std::pair<rt::OpHandle, uint64_t>> inflight;
  std::vector<double> lat_us;
  uint64_t issued = 0, done = 0;
  auto retire = [&]() -> rt::Status {
    auto [h, t0] = inflight.front();
    inflight.pop_front();
    LL_RETURN_IF_ERROR(client.Wait(h));
    lat_us.push_back(static_cast<double>(clock.now_ps() - t0) / 1e6);
    ++done;
    return rt::Status::Ok();
  };
  WallClock::time_point wall_start = WallClock::now();
  uint64_t start = clock.now_ps();
  for (;;) {
    if (inflight.size() >= p.depth) LL_RETURN_IF_ERROR(retire());
    if (issued >= min_ops && clock.now_ps() - start >= min_ps) break;
    uint64_t off = (issued % slots) * p.size;
    uint64_t t0 = clock.now_ps();
    auto h =
        p.write ? client.Write(region, off, buf + off, p.size) : client.Read(region, off, buf + off, p.size);
    if (!h.ok()) return h.status();
    inflight.emplace_back(*h, t0);
    ++issued;
  }
  while (!inflight.empty()) LL_RETURN_IF_ERROR(retire());
  double secs = static_cast<double>(clock.now_ps() - start) / 1e12;
  TransportResult r;
  r.op = p.write ? "write" : "read";
  r.size = p.size;
  r.depth = p.depth;
  r.operations = done;
  r.gbps = static_cast<double>(done * p.size) / 1e9 / secs;
  r.lat_us_p50 = Percentile(lat_us, 0.50);
  r.lat_us_p99 = Percentile(lat_us, 0.99);
  r.wall_s = Seconds(WallClock::now() - wall_start);
  return r;
}

bool OnBoard(const TransportBenchOptions& o) {
  return o.target == "fpga";
}

// The closed form of one point: the board's ideal rate on fpga, the node's
// on sim.
PointClosedForm PointBaseline(const SimTarget& t, const Point& p) {
  return t.board.empty() ? ClosedFormOf(t.node, p.write, p.size, p.depth) : BoardClosedFormOf(p.size);
}

// `sim`: the sim or fpga target, for the closed forms; null on the nic
// target, which measures memcpy instead.
rt::StatusOr<std::vector<TransportResult>> MeasureAll(rt::RemoteMemoryClient& client,
                                                      const TransportBenchOptions& o, double baseline,
                                                      const SimTarget* sim) {
  std::vector<Point> points;
  for (bool write : {true, false}) points.push_back({write, kLatencySize, 1, 4096});
  for (uint64_t size : o.sizes) {
    for (bool write : {true, false}) {
      points.push_back({write, size, o.depth, WorkingSet(size, o.depth, OnBoard(o))});
    }
  }
  uint64_t max_ws = 0;
  for (const Point& p : points) max_ws = std::max(max_ws, p.ws);
  LL_ASSIGN_OR_RETURN(rt::RemoteRegion region, client.Allocate(max_ws, "bench transport"));
  auto buf = MakeBuffer(max_ws);
  LL_RETURN_IF_ERROR(client.RegisterBuffer(buf.get(), max_ws));
  std::vector<TransportResult> results;
  for (const Point& p : points) {
    bool latency = p.size == kLatencySize && p.depth == 1;
    // Warm-up: one pass over the whole working set, so that no page fault
    // on either side (nor the provider's first connection) is measured.
    LL_RETURN_IF_ERROR(MeasurePoint(client, region, buf.get(), p, std::chrono::milliseconds(0),
                                    std::max<uint64_t>(p.ws / p.size, 2 * p.depth))
                           .status());
    size_t min_ops = latency ? o.latency_iterations : 4 * p.depth;
    auto min_time = latency ? std::chrono::milliseconds(0) : o.min_time;
    LL_ASSIGN_OR_RETURN(TransportResult r, MeasurePoint(client, region, buf.get(), p, min_time, min_ops));
    if (sim != nullptr) {
      PointClosedForm cf = PointBaseline(*sim, p);
      r.closed_form_gbps = cf.gbps;
      r.closed_form_lat_us = cf.lat_us;
    } else {
      r.memcpy_gbps = MemcpyGbps(p.size, p.ws, std::chrono::milliseconds(100));
      r.ratio_vs_memcpy = r.gbps / baseline;
    }
    results.push_back(r);
  }
  LL_RETURN_IF_ERROR(client.UnregisterBuffer(buf.get()));
  LL_RETURN_IF_ERROR(client.Free(region));
  return results;
}

rt::Status CheckOptions(const TransportBenchOptions& o) {
  if (o.target != "nic" && !InProcessTarget(o.target)) {
    return rt::InvalidArgument("--target: '" + o.target + "' is not one of nic, sim, fpga");
  }
  if (o.target == "nic" && !o.config.empty()) {
    return rt::InvalidArgument("--config applies to --target sim and fpga");
  }
  if (o.target != "fpga" && !o.board.empty()) return rt::InvalidArgument("--board applies to --target fpga");
  if (InProcessTarget(o.target) && !o.memnode.empty()) {
    return rt::InvalidArgument("--memnode: the " + o.target + " target runs its memnode in this process");
  }
  if (InProcessTarget(o.target) && !o.provider.empty() && rt::CoreProviderName(o.provider) != "lightloop") {
    return rt::InvalidArgument("--provider: the " + o.target + " target is the lightloop provider, not '" +
                               o.provider + "'");
  }
  if (o.sizes.empty()) return rt::InvalidArgument("--sizes lists no size");
  for (uint64_t s : o.sizes) {
    if (s == 0) return rt::InvalidArgument("--sizes: a size of 0 bytes cannot be measured");
  }
  if (o.depth == 0) return rt::InvalidArgument("--depth must be at least 1");
  return rt::Status::Ok();
}

uint64_t Capacity(const TransportBenchOptions& o) {
  uint64_t need = 0;
  for (uint64_t s : o.sizes) need = std::max(need, WorkingSet(s, o.depth, OnBoard(o)));
  return need + (64 << 20);
}

}  // namespace

rt::StatusOr<TransportBenchReport> RunTransportBench(const TransportBenchOptions& o) {
  LL_RETURN_IF_ERROR(CheckOptions(o));
  const bool sim_target = InProcessTarget(o.target);
  LL_ASSIGN_OR_RETURN(std::optional<SimTarget> sim, PrepareInProcessTarget(o.target, o.config, o.board));
  LL_ASSIGN_OR_RETURN(BenchMemnode node,
                      StartBenchMemnode(sim_target, o.memnode, o.provider, o.memnode_binary, Capacity(o)));
  rt::RemoteMemoryClient::Options co = BenchClientOptions(node, sim_target, o.provider, "bench", o.depth);
  co.max_chunk = o.max_chunk;
  LL_ASSIGN_OR_RETURN(auto client, rt::RemoteMemoryClient::Connect(co));

  TransportBenchReport report;
  report.target = o.target;
  report.time = client->clock().kind();
  report.provider = client->provider();
  report.mr_mode = client->mr_mode();
  report.memnode = sim_target ? "in-process" : node.address;  // the port varies from run to run
  report.chunk_size = client->chunk_size();
  if (rt::CoreProviderName(report.provider) == "shm") report.shm_copy = rt::ChooseShmCopy();
  if (sim) {
    report.config = sim->config;
    report.board = sim->board;
    report.closed_form_gbps = sim->board.empty()
                                  ? ClosedFormOf(sim->node, true, uint64_t{1} << 30, SIZE_MAX).gbps
                                  : BoardIdealGbps();
  } else {
    report.memcpy_gbps = MemcpyGbps(kBaselineBlock, kBaselineWorkingSet, o.min_time);
  }
  LL_ASSIGN_OR_RETURN(report.results, MeasureAll(*client, o, report.memcpy_gbps, sim ? &*sim : nullptr));
  return report;
}

namespace {

std::string ShmCopyName(const rt::ShmCopyChoice& c) {
  return c.cma ? "CMA, the peer copies across address spaces" : "SAR, both sides copy through shared buffers";
}

std::string Header(const TransportBenchReport& r) {
  std::ostringstream out;
  out << "lightloop bench transport: target " << r.target << ", provider " << r.provider << ", memnode "
      << r.memnode << ", MR mode " << r.mr_mode << ", " << r.time << " time\n";
  out << std::fixed << std::setprecision(2);
  if (r.target == "fpga") {
    out << "board: " << r.board << " (FI_LIGHTLOOP_BOARD; regions in board memory, RMA by DMA)\n"
        << "closed form: the board's ideal " << r.closed_form_gbps
        << " GB/s (8 B/cycle at the virtual board's clock); latency: size / 8 cycles (a lower bound: "
           "descriptor fetch, link round trip and status not counted)\n\n";
  } else if (r.target == "sim") {
    out << "node: " << r.config << "\nclosed form: saturated " << r.closed_form_gbps
        << " GB/s (link x rails, memory); per point: that, or depth x size / latency if lower\n\n";
  } else {
    out << "baseline: single-core memcpy " << r.memcpy_gbps << " GB/s (1 MiB blocks over 256 MiB)\n";
    if (r.shm_copy) out << "shm copy: " << ShmCopyName(*r.shm_copy) << " (" << r.shm_copy->why << ")\n";
    out << "\n";
  }
  return out.str();
}

}  // namespace

std::string FormatTable(const TransportBenchReport& r) {
  const bool sim = InProcessTarget(r.target);
  std::ostringstream out;
  out << Header(r) << std::left << std::setw(7) << "op" << std::right << std::setw(9) << "size"
      << std::setw(7) << "depth" << std::setw(10) << "GB/s" << std::setw(13)
      << (sim ? "closed GB/s" : "vs memcpy") << std::setw(12) << "p50 us" << std::setw(12) << "p99 us"
      << std::setw(14) << (sim ? "closed lat us" : "memcpy GB/s") << "\n";
  for (const TransportResult& x : r.results) {
    out << std::left << std::setw(7) << x.op << std::right << std::setw(9) << rt::FormatSize(x.size)
        << std::setw(7) << x.depth << std::fixed << std::setw(10) << std::setprecision(3) << x.gbps
        << std::setw(13) << (sim ? x.closed_form_gbps : x.ratio_vs_memcpy) << std::setw(12)
        << std::setprecision(sim ? 4 : 2) << x.lat_us_p50 << std::setw(12) << x.lat_us_p99 << std::setw(14)
        << (sim ? x.closed_form_lat_us : x.memcpy_gbps) << "\n";
  }
  return out.str();
}

namespace {

// Null where a value does not apply to the target.
nlohmann::json OrNull(bool applies, double v) {
  return applies ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json ToJson(const TransportBenchReport& r) {
  const bool sim = InProcessTarget(r.target);
  nlohmann::json results = nlohmann::json::array();
  for (const TransportResult& x : r.results) {
    results.push_back({{"op", x.op},
                       {"size", x.size},
                       {"depth", x.depth},
                       {"gbps", x.gbps},
                       {"lat_us_p50", x.lat_us_p50},
                       {"lat_us_p99", x.lat_us_p99},
                       {"closed_form_gbps", OrNull(sim, x.closed_form_gbps)},
                       {"closed_form_lat_us", OrNull(sim, x.closed_form_lat_us)},
                       {"ratio_vs_memcpy", OrNull(!sim, x.ratio_vs_memcpy)},
                       {"memcpy_gbps_same_size", OrNull(!sim, x.memcpy_gbps)},
                       {"operations", x.operations},
                       {"wall_s", x.wall_s}});
  }
  nlohmann::json baseline =
      r.target == "fpga"
          ? nlohmann::json{{"closed_form_gbps", r.closed_form_gbps},
                           {"what", "the board's ideal DMA rate, 8 B/cycle at its clock, virtual time"}}
      : sim
          ? nlohmann::json{{"closed_form_gbps", r.closed_form_gbps},
                           {"what", "the node's saturated closed form (link x rails, memory), virtual time"}}
          : nlohmann::json{{"memcpy_gbps", r.memcpy_gbps},
                           {"what", "single-core memcpy, 1 MiB blocks over a 256 MiB working set, same run"}};
  nlohmann::json j = {{"target", r.target},   {"time", r.time},       {"provider", r.provider},
                      {"mr_mode", r.mr_mode}, {"memnode", r.memnode}, {"chunk_size", r.chunk_size},
                      {"baseline", baseline}, {"results", results}};
  if (sim) j["config"] = r.config;
  if (r.target == "fpga") j["board"] = r.board;
  if (r.shm_copy) {
    j["shm_copy"] = {{"protocol", r.shm_copy->cma ? "cma" : "sar"},
                     {"why", r.shm_copy->why},
                     {"probe_cma_gbps", OrNull(r.shm_copy->probed, r.shm_copy->cma_gbps)},
                     {"probe_memcpy_gbps", OrNull(r.shm_copy->probed, r.shm_copy->memcpy_gbps)}};
  }
  return j;
}

}  // namespace lightloop::testbench
