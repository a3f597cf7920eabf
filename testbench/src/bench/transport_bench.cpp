// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/transport_bench.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <iomanip>
#include <memory>
#include <sstream>

#include "lightloop/runtime/memnode_process.h"
#include "lightloop/runtime/remote_memory.h"
#include "lightloop/runtime/size.h"

namespace lightloop::testbench {
namespace rt = lightloop::runtime;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kBaselineBlock = 1 << 20;
constexpr uint64_t kBaselineWorkingSet = 256ull << 20;
constexpr uint64_t kMinWorkingSet = 64ull << 20;
constexpr uint64_t kLatencySize = 64;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Page-touched buffer, so first-touch faults stay out of the measurement.
std::unique_ptr<char[]> MakeBuffer(uint64_t bytes) {
  std::unique_ptr<char[]> buf(new char[bytes]);
  for (uint64_t i = 0; i < bytes; i += 4096) buf[i] = static_cast<char>(i / 4096);
  return buf;
}

uint64_t WorkingSet(uint64_t size, size_t depth) {
  uint64_t ws = std::max<uint64_t>(size * depth, kMinWorkingSet);
  return (ws + size - 1) / size * size;
}

// Single-core memcpy of `block`-byte copies cycling over `ws` bytes.
double MemcpyGbps(uint64_t block, uint64_t ws, std::chrono::milliseconds min_time) {
  auto src = MakeBuffer(ws);
  auto dst = MakeBuffer(ws);
  uint64_t slots = ws / block, bytes = 0, i = 0;
  Clock::time_point start = Clock::now(), now = start;
  while (now - start < min_time || i < slots) {
    uint64_t off = (i++ % slots) * block;
    std::memcpy(dst.get() + off, src.get() + off, block);
    bytes += block;
    if (i % 16 == 0) now = Clock::now();
  }
  now = Clock::now();
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

// Keeps `depth` operations of `size` bytes outstanding for at least min_time.
rt::StatusOr<TransportResult> MeasurePoint(rt::RemoteMemoryClient& client, const rt::RemoteRegion& region,
                                           char* buf, const Point& p, std::chrono::milliseconds min_time,
                                           size_t min_ops) {
  uint64_t slots = p.ws / p.size;
  std::deque<std::pair<rt::OpHandle, Clock::time_point>> inflight;
  std::vector<double> lat_us;
  uint64_t issued = 0, done = 0;
  auto retire = [&]() -> rt::Status {
    auto [h, t0] = inflight.front();
    inflight.pop_front();
    LL_RETURN_IF_ERROR(client.Wait(h));
    lat_us.push_back(Seconds(Clock::now() - t0) * 1e6);
    ++done;
    return rt::Status::Ok();
  };
  Clock::time_point start = Clock::now();
  for (;;) {
    if (inflight.size() >= p.depth) LL_RETURN_IF_ERROR(retire());
    if (issued >= min_ops && Clock::now() - start >= min_time) break;
    uint64_t off = (issued % slots) * p.size;
    Clock::time_point t0 = Clock::now();
    auto h =
        p.write ? client.Write(region, off, buf + off, p.size) : client.Read(region, off, buf + off, p.size);
    if (!h.ok()) return h.status();
    inflight.emplace_back(*h, t0);
    ++issued;
  }
  while (!inflight.empty()) LL_RETURN_IF_ERROR(retire());
  double secs = Seconds(Clock::now() - start);
  TransportResult r;
  r.op = p.write ? "write" : "read";
  r.size = p.size;
  r.depth = p.depth;
  r.operations = done;
  r.gbps = static_cast<double>(done * p.size) / 1e9 / secs;
  r.lat_us_p50 = Percentile(lat_us, 0.50);
  r.lat_us_p99 = Percentile(lat_us, 0.99);
  return r;
}

rt::StatusOr<std::vector<TransportResult>> MeasureAll(rt::RemoteMemoryClient& client,
                                                      const TransportBenchOptions& o, double baseline) {
  std::vector<Point> points;
  for (bool write : {true, false}) points.push_back({write, kLatencySize, 1, 4096});
  for (uint64_t size : o.sizes) {
    for (bool write : {true, false}) points.push_back({write, size, o.depth, WorkingSet(size, o.depth)});
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
    r.memcpy_gbps = MemcpyGbps(p.size, p.ws, std::chrono::milliseconds(100));
    r.ratio_vs_memcpy = r.gbps / baseline;
    results.push_back(r);
  }
  LL_RETURN_IF_ERROR(client.UnregisterBuffer(buf.get()));
  LL_RETURN_IF_ERROR(client.Free(region));
  return results;
}

}  // namespace

rt::StatusOr<TransportBenchReport> RunTransportBench(const TransportBenchOptions& o) {
  if (o.sizes.empty()) return rt::InvalidArgument("--sizes lists no size");
  for (uint64_t s : o.sizes) {
    if (s == 0) return rt::InvalidArgument("--sizes: a size of 0 bytes cannot be measured");
  }
  if (o.depth == 0) return rt::InvalidArgument("--depth must be at least 1");
  std::unique_ptr<rt::MemnodeProcess> node;
  std::string address = o.memnode;
  if (address.empty()) {
    uint64_t need = 0;
    for (uint64_t s : o.sizes) need = std::max(need, WorkingSet(s, o.depth));
    rt::MemnodeProcess::Options mo{
        .binary = o.memnode_binary, .provider = o.provider, .capacity = std::to_string(need + (64 << 20))};
    LL_ASSIGN_OR_RETURN(node, rt::MemnodeProcess::Spawn(mo));
    address = node->control_address();
  }
  rt::RemoteMemoryClient::Options co;
  co.memnode = address;
  co.tenant = "bench";
  co.provider = o.provider;
  co.depth = o.depth;
  co.max_chunk = o.max_chunk;
  LL_ASSIGN_OR_RETURN(auto client, rt::RemoteMemoryClient::Connect(co));

  TransportBenchReport report;
  report.provider = client->provider();
  report.mr_mode = client->mr_mode();
  report.memnode = address;
  report.chunk_size = client->chunk_size();
  report.memcpy_gbps = MemcpyGbps(kBaselineBlock, kBaselineWorkingSet, o.min_time);
  LL_ASSIGN_OR_RETURN(report.results, MeasureAll(*client, o, report.memcpy_gbps));
  return report;
}

std::string FormatTable(const TransportBenchReport& r) {
  std::ostringstream out;
  out << "lightloop bench transport: provider " << r.provider << ", memnode " << r.memnode << ", MR mode "
      << r.mr_mode << "\n";
  out << "baseline: single-core memcpy " << std::fixed << std::setprecision(2) << r.memcpy_gbps
      << " GB/s (1 MiB blocks over 256 MiB)\n\n";
  out << std::left << std::setw(7) << "op" << std::right << std::setw(9) << "size" << std::setw(7) << "depth"
      << std::setw(10) << "GB/s" << std::setw(11) << "vs memcpy" << std::setw(12) << "p50 us" << std::setw(12)
      << "p99 us" << std::setw(14) << "memcpy GB/s"
      << "\n";
  for (const TransportResult& x : r.results) {
    out << std::left << std::setw(7) << x.op << std::right << std::setw(9) << rt::FormatSize(x.size)
        << std::setw(7) << x.depth << std::setw(10) << std::setprecision(3) << x.gbps << std::setw(11)
        << std::setprecision(3) << x.ratio_vs_memcpy << std::setw(12) << std::setprecision(2) << x.lat_us_p50
        << std::setw(12) << x.lat_us_p99 << std::setw(14) << x.memcpy_gbps << "\n";
  }
  return out.str();
}

nlohmann::json ToJson(const TransportBenchReport& r) {
  nlohmann::json results = nlohmann::json::array();
  for (const TransportResult& x : r.results) {
    results.push_back({{"op", x.op},
                       {"size", x.size},
                       {"depth", x.depth},
                       {"gbps", x.gbps},
                       {"lat_us_p50", x.lat_us_p50},
                       {"lat_us_p99", x.lat_us_p99},
                       {"ratio_vs_memcpy", x.ratio_vs_memcpy},
                       {"memcpy_gbps_same_size", x.memcpy_gbps},
                       {"operations", x.operations}});
  }
  return {{"provider", r.provider},
          {"mr_mode", r.mr_mode},
          {"memnode", r.memnode},
          {"chunk_size", r.chunk_size},
          {"baseline",
           {{"memcpy_gbps", r.memcpy_gbps},
            {"what", "single-core memcpy, 1 MiB blocks over a 256 MiB working set, same run"}}},
          {"results", results}};
}

}  // namespace lightloop::testbench
