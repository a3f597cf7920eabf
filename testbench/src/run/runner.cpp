// SPDX-License-Identifier: Apache-2.0
#include <openssl/evp.h>
#include <rdma/fabric.h>

#include <systemc>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <optional>
#include <sstream>

#include "bench/sim_target.h"
#include "cli/write_file.h"
#include "lightloop/hw_models/link/link_registry.h"
#include "lightloop/hw_models/link/photonic_link.h"
#include "lightloop/hw_models/node/memory_node.h"
#include "lightloop/memory_offload/kv_block_manager.h"
#include "lightloop/memory_offload/weight_streamer.h"
#include "lightloop/runtime/clock.h"
#include "lightloop/runtime/remote_memory.h"
#include "lightloop/testbench/run.h"
#include "lightloop/workloads/accelerator.h"
#include "lightloop/workloads/engine.h"
#include "lightloop/workloads/executors.h"
#include "lightloop/workloads/llama.h"
#include "lightloop/workloads/synthetic.h"

namespace lightloop::testbench {
namespace {

namespace fs = std::filesystem;
namespace mo = lightloop::memory_offload;
namespace rt = lightloop::runtime;
namespace wl = lightloop::workloads;

// SHA-256 of every token id (4 bytes, little-endian), request after request.
std::string TokensSha256(const std::vector<std::vector<int32_t>>& outputs) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (const std::vector<int32_t>& out : outputs) {
    for (int32_t t : out) {
      auto u = static_cast<uint32_t>(t);
      unsigned char b[4] = {static_cast<unsigned char>(u), static_cast<unsigned char>(u >> 8),
                            static_cast<unsigned char>(u >> 16), static_cast<unsigned char>(u >> 24)};
      EVP_DigestUpdate(ctx, b, sizeof b);
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  std::ostringstream hex;
  for (unsigned int i = 0; i < len; ++i)
    hex << std::hex << std::setw(2) << std::setfill('0') << int{digest[i]};
  return hex.str();
}

nlohmann::json ToJson(const wl::Distribution& d) {
  return {{"p50", d.p50},   {"p90", d.p90}, {"p95", d.p95},    {"p99", d.p99},
          {"mean", d.mean}, {"max", d.max}, {"count", d.count}};
}

rt::StatusOr<std::vector<wl::Request>> LoadRequests(const Scenario& s) {
  std::vector<wl::Request> rs;
  if (!s.trace.empty()) {
    LL_ASSIGN_OR_RETURN(rs, wl::ReadTrace(s.trace, s.trace_options));
  } else {
    rs = wl::Generate(s.synthetic);
  }
  for (wl::Request& r : rs) {
    if (s.max_input_tokens > 0) r.input_tokens = std::min(r.input_tokens, s.max_input_tokens);
    if (s.max_output_tokens > 0) r.output_tokens = std::min(r.output_tokens, s.max_output_tokens);
  }
  if (rs.empty()) return rt::InvalidArgument(s.path + ": the workload has no requests");
  return rs;
}

// Where the remote tier lives, and the run's clock.
struct Target {
  std::optional<SimTarget> sim;
  std::vector<BenchMemnode> memnodes;  // before the clients: they go after them
  std::vector<std::unique_ptr<rt::RemoteMemoryClient>> clients;
  rt::Clock wall;
  const rt::Clock* clock = &wall;
  std::string provider = "host";
};

// The remote tier's `real` slots of memory on `target`; each memnode has
// room for `extra_bytes` more (the streamed weights').
rt::StatusOr<std::unique_ptr<mo::RemoteTier>> OpenTarget(const Scenario& s, const std::string& target,
                                                         const std::string& out, Target& t, uint64_t slot_bytes,
                                                         uint64_t real, uint64_t extra_bytes) {
  if (target == "local") return std::unique_ptr<mo::RemoteTier>(new mo::HostTier(real, slot_bytes));
  if (target != "nic" && target != "sim" && target != "fpga") {
    return rt::InvalidArgument("--target: '" + target + "' is not one of: local, nic, sim, fpga");
  }
  // fpga: the sim target with the provider's fpga backend (the board from
  // FI_LIGHTLOOP_BOARD, else the virtual board).
  const bool sim = InProcessTarget(target);
  std::string node_file = s.sim_config;
  if (sim && !s.sim_node.empty()) {  // the node written in the scenario, for the provider to read
    node_file = (out.empty() ? fs::temp_directory_path() / ("lightloop-node-" + std::to_string(::getpid()) + ".yaml")
                             : fs::path(out) / "node.yaml")
                    .string();
    LL_RETURN_IF_ERROR(WriteFileAtomically(node_file, s.sim_node));
  }
  LL_ASSIGN_OR_RETURN(t.sim, PrepareInProcessTarget(target, node_file, s.fpga_board));
  // nic: one memnode per address given, else targets.nic.memnodes started
  // here; the tier stripes its slots across them. sim and fpga: one, in
  // this process, whatever targets.nic says (the fabric's node is the
  // model's; the same scenario runs on every target).
  std::vector<std::string> addresses = sim ? std::vector<std::string>{""} : s.nic_memnodes;
  if (addresses.empty()) addresses.assign(static_cast<size_t>(s.nic_memnode_count), "");
  const uint64_t per_node = (real + addresses.size() - 1) / addresses.size();
  // MemnodeTier rounds its regions up to whole stripes (16 slots).
  const uint64_t capacity = (per_node + 16) * slot_bytes + extra_bytes + (64ull << 20);
  std::vector<rt::RemoteMemoryClient*> clients;
  for (const std::string& address : addresses) {
    LL_ASSIGN_OR_RETURN(BenchMemnode node, StartBenchMemnode(sim, address, s.nic_provider, "", capacity));
    rt::RemoteMemoryClient::Options co;
    co.memnode = node.address;
    co.tenant = "run-" + s.name;
    co.provider = sim ? "lightloop" : s.nic_provider;
    t.memnodes.push_back(std::move(node));
    LL_ASSIGN_OR_RETURN(std::unique_ptr<rt::RemoteMemoryClient> client, rt::RemoteMemoryClient::Connect(co));
    clients.push_back(client.get());
    t.clients.push_back(std::move(client));
  }
  t.clock = &t.clients.front()->clock();
  t.provider = t.clients.front()->provider();
  LL_ASSIGN_OR_RETURN(auto tier, mo::MemnodeTier::Create(clients, slot_bytes, real));
  return std::unique_ptr<mo::RemoteTier>(std::move(tier));
}

// scenario.weights.stream: the model's layer weights stored in the remote
// tier (beside the KV, in the same memnodes), the pinned layers loaded, and
// the model's own copies dropped, so that every step computes from the
// streamed ones. Null when the weights stay resident.
rt::StatusOr<std::unique_ptr<mo::WeightStreamer>> StreamWeights(const Scenario& s, const std::string& target,
                                                                const Target& t, wl::LlamaModel* model,
                                                                uint64_t layer_bytes) {
  if (!s.weights_stream) return std::unique_ptr<mo::WeightStreamer>();
  const int64_t layers = model->config().shape.layers;
  for (int64_t l : s.weights_pinned) {
    if (l >= layers) {
      return rt::InvalidArgument(s.path + ": weights.pinned: layer " + std::to_string(l) +
                                 " is not a layer of the model (" + std::to_string(layers) + " layers)");
    }
  }
  std::unique_ptr<mo::RemoteTier> tier;
  if (target == "local") {
    tier = std::make_unique<mo::HostTier>(static_cast<uint64_t>(layers), layer_bytes);
  } else {
    std::vector<rt::RemoteMemoryClient*> clients;
    for (const auto& c : t.clients) clients.push_back(c.get());
    LL_ASSIGN_OR_RETURN(tier, mo::MemnodeTier::Create(clients, layer_bytes, static_cast<uint64_t>(layers)));
  }
  mo::WeightStreamer::Options wo{
      .layer_bytes = layer_bytes, .layers = layers, .buffers = s.weights_buffers, .pinned = s.weights_pinned};
  const rt::Clock* clock = t.clock;
  wo.now_ns = [clock] { return clock->now_ns(); };
  LL_ASSIGN_OR_RETURN(std::unique_ptr<mo::WeightStreamer> ws, mo::WeightStreamer::Create(wo, std::move(tier)));
  std::vector<unsigned char> layer(layer_bytes);
  for (int64_t l = 0; l < layers; ++l) {
    LL_RETURN_IF_ERROR(model->CopyLayerWeights(l, layer.data()));
    LL_RETURN_IF_ERROR(ws->Store(l, layer.data()));
  }
  LL_RETURN_IF_ERROR(ws->LoadPinned());
  model->DropResidentLayers();
  return ws;
}

nlohmann::json WeightsJson(const Scenario& s, const mo::WeightStats& w, uint64_t layer_bytes, bool model_bf16) {
  if (!s.weights_stream) return {{"streamed", false}};
  return {{"streamed", true},
          {"layer_bytes", layer_bytes},
          {"dtype", model_bf16 ? "bf16" : "f32"},
          {"buffers", s.weights_buffers},
          {"pinned", s.weights_pinned},
          {"fetches", w.fetches},
          {"bytes_fetched", w.bytes_fetched},
          {"stalls", w.stalls},
          {"stall_ms", static_cast<double>(w.stall_ns) / 1e6}};
}

// One row per sample: the queue (running, waiting), the step's batch, the
// tokens so far and their rate since the last sample, the tiers' occupancy,
// the KV bytes moved and their rate, and (sim) the link's utilization.
rt::Status WriteSeries(const std::string& path, const wl::EngineResult& r, double peak_gbps) {
  std::ostringstream csv;
  csv << "t_s,running,waiting,batch_tokens,tokens_out,tok_s,local_blocks,remote_blocks,bytes_offloaded,"
         "bytes_fetched,kv_gbps,link_utilization\n";
  const wl::SeriesSample* prev = nullptr;
  for (const wl::SeriesSample& p : r.series) {
    double tok_s = 0, gbps = 0;
    if (prev != nullptr && p.t_ns > prev->t_ns) {
      const double dt = static_cast<double>(p.t_ns - prev->t_ns) / 1e9;
      tok_s = static_cast<double>(p.tokens_out - prev->tokens_out) / dt;
      gbps = static_cast<double>(p.bytes_offloaded + p.bytes_fetched - prev->bytes_offloaded - prev->bytes_fetched) /
             dt / 1e9;
    }
    csv << static_cast<double>(p.t_ns) / 1e9 << ',' << p.running << ',' << p.waiting << ',' << p.batch_tokens
        << ',' << p.tokens_out << ',' << tok_s << ',' << p.local_blocks << ',' << p.remote_blocks << ','
        << p.bytes_offloaded << ',' << p.bytes_fetched << ',' << gbps << ',';
    if (peak_gbps > 0) csv << gbps / peak_gbps;
    csv << '\n';
    prev = &p;
  }
  return WriteFileAtomically(path, csv.str());
}

// Chrome trace events (https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU),
// times in microseconds of the run's clock: pid 1 the engine (a step on tid
// 1, its modelled compute on tid 2, counters for the running set and the KV
// bytes), pid 2 the requests (an async span from arrival to last token with
// the first token marked).
class TraceWriter {
 public:
  TraceWriter() {
    text_ << "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n";
    Meta("process_name", 1, 0, "engine");
    Meta("thread_name", 1, 1, "steps");
    Meta("thread_name", 1, 2, "compute (modelled)");
    Meta("thread_name", 1, 3, "KV transfers (the step's wait)");
    Meta("process_name", 2, 0, "requests");
    text_ << std::fixed << std::setprecision(3);
  }
  void Step(const wl::StepTrace& st) {
    const double ts = Us(st.start_ns), end = Us(st.end_ns), c = Us(st.compute_ns);
    Event("step", "X", 1, 1, ts) << ", \"dur\": " << end - ts << ", \"args\": {\"tokens\": " << st.tokens
                                 << ", \"seqs\": " << st.seqs << "}}";
    Event("compute", "X", 1, 2, end - c) << ", \"dur\": " << c << "}";
    // What of the step was not compute is the wait for the KV moved in it.
    const uint64_t off = st.bytes_offloaded - last_off_, in = st.bytes_fetched - last_fetch_;
    if ((off > 0 || in > 0) && end - c > ts) {
      Event("KV transfer", "X", 1, 3, ts) << ", \"dur\": " << end - c - ts
                                          << ", \"args\": {\"offloaded_MB\": " << static_cast<double>(off) / 1e6
                                          << ", \"fetched_MB\": " << static_cast<double>(in) / 1e6 << "}}";
    }
    Event("sequences", "C", 1, 0, end)
        << ", \"args\": {\"running\": " << st.running << ", \"waiting\": " << st.waiting << "}}";
    if (st.bytes_offloaded != last_off_ || st.bytes_fetched != last_fetch_) {
      last_off_ = st.bytes_offloaded;
      last_fetch_ = st.bytes_fetched;
      Event("KV MB moved", "C", 1, 0, end)
          << ", \"args\": {\"offloaded\": " << static_cast<double>(last_off_) / 1e6
          << ", \"fetched\": " << static_cast<double>(last_fetch_) / 1e6 << "}}";
    }
  }
  std::string Finish(const std::vector<wl::Request>& requests, const std::vector<wl::RequestTimes>& times) {
    for (size_t i = 0; i < times.size(); ++i) {
      const wl::RequestTimes& t = times[i];
      if (t.token_ns.empty()) continue;
      const uint64_t id = requests[i].id;
      Event("request", "b", 2, 1, Us(t.arrival_ns)) << ", \"cat\": \"request\", \"id\": " << id
                                                    << ", \"args\": {\"input\": " << requests[i].input_tokens
                                                    << ", \"output\": " << t.token_ns.size() << "}}";
      Event("first token", "n", 2, 1, Us(t.token_ns.front()))
          << ", \"cat\": \"request\", \"id\": " << id << "}";
      Event("request", "e", 2, 1, Us(t.token_ns.back())) << ", \"cat\": \"request\", \"id\": " << id << "}";
    }
    text_ << "\n]}\n";
    return text_.str();
  }

 private:
  static double Us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }
  // Opens an event; the caller adds its fields and closes the brace.
  std::ostream& Event(const char* name, const char* ph, int pid, int tid, double ts) {
    text_ << ",\n{\"name\": \"" << name << "\", \"ph\": \"" << ph << "\", \"pid\": " << pid
          << ", \"tid\": " << tid << ", \"ts\": " << ts;
    return text_;
  }
  void Meta(const char* kind, int pid, int tid, const char* name) {
    text_ << (first_ ? "" : ",\n") << "{\"name\": \"" << kind << "\", \"ph\": \"M\", \"pid\": " << pid
          << ", \"tid\": " << tid << ", \"args\": {\"name\": \"" << name << "\"}}";
    first_ = false;
  }
  std::ostringstream text_;
  bool first_ = true;
  uint64_t last_off_ = 0, last_fetch_ = 0;
};

}  // namespace

std::string ReportMarkdown(const nlohmann::json& r) {
  std::ostringstream md;
  auto num = [](const nlohmann::json& v, int digits = 3) {
    std::ostringstream t;
    if (v.is_number()) {
      t << std::setprecision(digits) << v.get<double>();
    } else {
      t << "–";
    }
    return t.str();
  };
  const nlohmann::json& m = r["metrics"];
  md << "# " << r.value("scenario", "run") << " on " << r.value("target", "?") << "\n\n"
     << "| | |\n|---|---|\n"
     << "| scenario file | `" << r.value("scenario_file", "") << "` (resolved: `scenario.yaml`) |\n"
     << "| target | " << r.value("target", "") << " (provider " << r.value("provider", "") << ", "
     << (r.value("virtual_time", false) ? "virtual time" : "wall clock") << ") |\n"
     << "| model | " << r["model"].value("name", "") << ", " << r.value("mode", "") << " mode, "
     << num(r["model"]["parameters"].get<double>() / 1e9) << " B parameters |\n"
     << "| accelerator | " << r.value("accelerator", "") << " |\n"
     << "| seed | " << r.value("seed", 0) << " |\n"
     << "| requests | " << r.value("requests", 0) << " (finished " << r.value("finished", 0) << ", rejected "
     << r.value("rejected", 0) << (r.value("interrupted", false) ? ", interrupted" : "") << ") |\n"
     << "| output tokens | " << r.value("output_tokens", 0) << " (sha256 `"
     << r.value("tokens_sha256", "").substr(0, 16) << "…`) |\n"
     << "| run time | " << num(r["run_s"], 4) << " s in " << num(r["wall_s"], 3) << " s of wall time |\n";
  if (r.contains("versions")) {
    md << "| versions |";
    for (const auto& [k, v] : r["versions"].items()) md << " " << k << " " << v.get<std::string>();
    md << " |\n";
  }
  if (r.contains("headline")) {
    md << "\n## Headline\n\n";
    for (const auto& [k, v] : r["headline"].items()) md << "- `" << k << "` = " << (v.is_string() ? v.get<std::string>() : num(v, 6)) << "\n";
  }
  if (r.contains("thresholds")) {
    md << "\n## Thresholds\n\n";
    for (const nlohmann::json& c : r["thresholds"]) {
      md << "- " << (c["passed"].get<bool>() ? "pass" : "**FAIL**") << ": " << c["check"].get<std::string>() << " ("
         << c["detail"].get<std::string>() << ")\n";
    }
  }
  md << "\n## Latency (ms)\n\n| metric | p50 | p90 | p95 | p99 | mean | max |\n|---|---:|---:|---:|---:|---:|---:|\n";
  for (const char* k : {"queue_ms", "ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"}) {
    const nlohmann::json& d = m[k];
    md << "| " << std::string(k).substr(0, std::string(k).size() - 3) << " | " << num(d["p50"]) << " | "
       << num(d["p90"]) << " | " << num(d["p95"]) << " | " << num(d["p99"]) << " | " << num(d["mean"]) << " | "
       << num(d["max"]) << " |\n";
  }
  md << "\n## Throughput\n\n"
     << "- " << num(m["throughput_tok_s"], 4) << " output tokens/s, " << num(m["throughput_req_s"], 4)
     << " requests/s\n"
     << "- goodput " << num(m["goodput_req_s"], 4) << " requests/s under the SLO (TTFT ≤ "
     << num(m["slo"]["ttft_ms"]) << " ms, TPOT ≤ " << num(m["slo"]["tpot_ms"]) << " ms; 0 is no limit), "
     << m["slo"].value("met", 0) << " requests met it\n";
  const nlohmann::json& kv = r["kv"];
  md << "\n## KV cache\n\n"
     << "- blocks of " << kv.value("block_bytes", 0) << " bytes: " << kv.value("local_blocks", 0) << " local, "
     << kv.value("remote_blocks", 0) << " remote (codec " << kv.value("codec", "") << ")\n"
     << "- offloaded " << num(kv["bytes_offloaded"].get<double>() / 1e6, 4) << " MB in "
     << kv.value("offload_transfers", 0) << " transfers, fetched "
     << num(kv["bytes_fetched"].get<double>() / 1e6, 4) << " MB in " << kv.value("fetch_transfers", 0)
     << "; stalled " << num(kv["stall_ms"], 4) << " ms\n"
     << "- prefix hit rate " << num(kv["prefix_hit_rate"]) << ", evictions " << kv.value("evictions", 0)
     << ", lost blocks " << kv.value("lost_blocks", 0) << "\n"
     << "- preemptions " << r["scheduler"].value("preemptions", 0) << ", recomputed tokens "
     << r["scheduler"].value("recomputed_tokens", 0) << ", swap-ins within their step "
     << r["scheduler"].value("layered_swap_ins", 0) << " (voided " << r["scheduler"].value("voided_swap_ins", 0)
     << ")\n";
  if (r["link"].is_object()) {
    md << "\n## Link\n\n- peak " << num(r["link"]["peak_gbps"]) << " GB/s, utilization "
       << num(r["link"]["utilization"]) << "\n";
    if (r["energy_j"].is_object()) {
      md << "- energy " << num(r["energy_j"]["link"]) << " J for the KV it carried ("
         << num(r["energy_j"]["link_pj_per_payload_bit"]) << " pJ per payload bit)\n";
    }
  }
  md << "\n## Files\n\n- `report.json`: every metric and the resolved scenario\n"
     << "- `scenario.yaml`: the scenario resolved; `lightloop run scenario.yaml --target "
     << r.value("target", "") << "` repeats the run\n"
     << "- `series.csv`: running and waiting sequences, batch tokens, output tokens, tier occupancy and KV bytes "
        "over time\n"
     << "- `trace.json` (with `--trace`): open in https://ui.perfetto.dev\n";
  return md.str();
}

rt::StatusOr<nlohmann::json> RunScenario(const Scenario& s, const RunOptions& o) {
  const auto wall0 = std::chrono::steady_clock::now();
  LL_ASSIGN_OR_RETURN(std::vector<wl::Request> requests, LoadRequests(s));
  LL_ASSIGN_OR_RETURN(wl::Accelerator accel, wl::ReadAccelerator(s.accelerator));
  accel = wl::Replicate(accel, s.accelerators);
  if (!o.out.empty()) {
    std::error_code ec;
    fs::create_directories(o.out, ec);
    if (ec) return rt::Unavailable("--out: cannot create " + o.out + ": " + ec.message());
  }

  // The model and how a step is computed.
  std::unique_ptr<wl::LlamaModel> llama;
  std::unique_ptr<wl::StepExecutor> exec;
  wl::ModelShape shape;
  mo::KvShape kv_shape;
  std::string model_source;
  if (s.mode == "functional") {
    std::string dir = s.model_dir;
    if (dir.empty()) {  // a random model of the scenario's size
      dir = (o.out.empty() ? fs::temp_directory_path() / ("lightloop-model-" + std::to_string(::getpid()))
                           : fs::path(o.out) / "model")
                .string();
      LL_RETURN_IF_ERROR(wl::WriteRandomModel(dir, s.random));
      model_source = "random (seed " + std::to_string(s.random.seed) + ")";
    } else {
      model_source = dir;
    }
    LL_ASSIGN_OR_RETURN(llama,
                        wl::LlamaModel::Load(dir, {.block_tokens = s.block_tokens, .threads = s.threads}));
    shape = llama->config().shape;
    kv_shape = {.layers = shape.layers,
                .kv_heads = shape.kv_heads,
                .head_dim = shape.head_dim,
                .dtype_bytes = 2,  // the functional model's cache is bf16 (llama.h)
                .block_tokens = s.block_tokens};
    exec = std::make_unique<wl::FunctionalExecutor>(llama.get(), accel, static_cast<float>(s.temperature),
                                                    static_cast<int>(s.top_k), s.seed);
  } else {
    LL_ASSIGN_OR_RETURN(shape, wl::ReadModelShape(s.model_config));
    model_source = s.model_config;
    kv_shape = {.layers = shape.layers,
                .kv_heads = shape.kv_heads,
                .head_dim = shape.head_dim,
                .dtype_bytes = shape.dtype_bytes,
                .block_tokens = s.block_tokens};
    exec = std::make_unique<wl::ShapeExecutor>(shape, accel);
  }
  if (shape.vocab_size <= 0) return rt::InvalidArgument(model_source + ": vocab_size must be positive");

  // The tiers.
  const uint64_t bb = kv_shape.block_bytes();
  uint64_t local_blocks = s.local_blocks;
  if (local_blocks == 0 && s.local_bytes > 0) local_blocks = s.local_bytes / bb;
  if (local_blocks == 0 && s.mode == "functional") local_blocks = 1024;
  if (local_blocks == 0) {  // the accelerators' memory less the weights
    double weights = static_cast<double>(shape.parameters() * static_cast<uint64_t>(shape.dtype_bytes));
    if (accel.hbm_bytes <= weights) {
      return rt::InvalidArgument(s.path + ": the weights (" + std::to_string(weights / 1e9) + " GB) fill " +
                                 accel.name + "; set accelerator.count or kv.local_bytes");
    }
    local_blocks = static_cast<uint64_t>((accel.hbm_bytes - weights) / static_cast<double>(bb));
  }
  if (local_blocks == 0) return rt::InvalidArgument(s.path + ": kv: the local tier holds no block");
  const uint64_t remote_blocks = s.remote_blocks > 0 ? s.remote_blocks : 4 * local_blocks;
  mo::KvBlockManager::Options ko{.shape = kv_shape,
                                 .local_blocks = local_blocks,
                                 .local_physical_blocks = 0,
                                 .high_watermark = s.high_watermark,
                                 .low_watermark = s.low_watermark,
                                 .eviction = s.eviction,
                                 .coalesce_bytes = s.coalesce_bytes,
                                 .codec = s.codec,
                                 .layout = s.layout};
  const bool alias = s.mode == "shape";
  if (alias) {  // shape mode: real sizes, meaningless contents
    ko.local_physical_blocks = std::min<uint64_t>(local_blocks, s.alias_blocks);
    ko.checksums = false;
  }
  LL_ASSIGN_OR_RETURN(uint64_t slot_bytes, mo::KvBlockManager::RemoteSlotBytes(ko));
  Target target;
  // Aliased, the remote tier keeps room for the longest write-back run, so
  // no transfer is cut in pieces.
  const uint64_t longest_run = std::max<uint64_t>(1, s.coalesce_bytes / slot_bytes);
  // Slots, not blocks: under layer_major a block takes one slot a layer.
  LL_ASSIGN_OR_RETURN(const uint64_t remote_slots, mo::KvBlockManager::RemoteSlots(ko, remote_blocks));
  const uint64_t remote_real =
      alias ? std::min(remote_slots, std::max(s.alias_blocks, longest_run)) : remote_slots;
  // Streamed weights: a slot per layer, in the same memnodes (regions
  // round up to 16-slot stripes on each).
  const uint64_t layer_bytes = s.weights_stream ? llama->LayerWeightBytes() : 0;
  const uint64_t weight_bytes = layer_bytes * (static_cast<uint64_t>(shape.layers) + 16);
  LL_ASSIGN_OR_RETURN(std::unique_ptr<mo::RemoteTier> tier,
                      OpenTarget(s, o.target, o.out, target, slot_bytes, remote_real, weight_bytes));
  if (remote_real < remote_slots) tier = std::make_unique<mo::AliasTier>(std::move(tier), remote_slots);
  const rt::Clock* clock = target.clock;
  ko.now_ns = [clock] { return clock->now_ns(); };
  LL_ASSIGN_OR_RETURN(std::unique_ptr<mo::KvBlockManager> kv,
                      mo::KvBlockManager::Create(ko, std::move(tier)));
  LL_ASSIGN_OR_RETURN(std::unique_ptr<mo::WeightStreamer> weights,
                      StreamWeights(s, o.target, target, llama.get(), layer_bytes));

  wl::EngineOptions eo;
  eo.max_batch_tokens = s.max_batch_tokens;
  eo.max_seqs = s.max_seqs;
  eo.prefill_chunk = s.prefill_chunk;
  LL_ASSIGN_OR_RETURN(eo.preemption, wl::ParsePreemption(s.preemption));
  LL_ASSIGN_OR_RETURN(eo.swap_in, wl::ParseSwapIn(s.swap_in));
  LL_ASSIGN_OR_RETURN(eo.write_back, wl::ParseWriteBack(s.write_back));
  LL_ASSIGN_OR_RETURN(eo.prefetch, mo::ParsePrefetch(s.prefetch));
  eo.prefetch_budget_ns = static_cast<uint64_t>(s.prefetch_budget_us * 1e3);
  eo.prefix_cache = s.prefix_cache;
  eo.vocab = shape.vocab_size;
  eo.sample_every_ns = std::max<uint64_t>(1, static_cast<uint64_t>(s.sample_every_ms * 1e6));
  eo.cancelled = o.cancelled;
  if (o.progress) {
    auto last = std::chrono::steady_clock::now();
    eo.progress = [&o, last](uint64_t done, uint64_t total, uint64_t now_ns) mutable {
      auto t = std::chrono::steady_clock::now();
      if (t - last < std::chrono::milliseconds(200) && done < total) return;
      last = t;
      o.progress(done, total, static_cast<double>(now_ns) / 1e9);
    };
  }
  std::optional<TraceWriter> trace;
  if (o.trace && !o.out.empty()) {
    trace.emplace();
    eo.on_step = [&trace](const wl::StepTrace& st) { trace->Step(st); };
  }
  wl::EngineClock ec{.now_ns = [clock] { return clock->now_ns(); },
                     .advance_ns = [clock](uint64_t ns) { clock->advance_ns(ns); },
                     .is_virtual = clock->is_virtual()};
  wl::Engine engine(eo, kv.get(), exec.get(), ec, weights.get());
  LL_ASSIGN_OR_RETURN(wl::EngineResult r, engine.Run(requests));
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();

  const wl::RunSummary sum = wl::Summarize(r.times, {.ttft_ms = s.slo_ttft_ms, .tpot_ms = s.slo_tpot_ms});
  const double run_s = static_cast<double>(r.elapsed_ns) / 1e9;
  const uint64_t lookups = r.kv.prefix_hits + r.kv.prefix_misses;
  nlohmann::json link = nullptr, energy = nullptr;
  if (target.sim) {
    PointClosedForm peak = target.sim->board.empty() ? ClosedFormOf(target.sim->node, true, 1 << 20, 64)
                                                     : BoardClosedFormOf(1 << 20);
    double moved = static_cast<double>(r.kv.bytes_offloaded + r.kv.bytes_fetched);
    link = {{"peak_gbps", peak.gbps},
            {"utilization", run_s > 0 && peak.gbps > 0 ? moved / 1e9 / run_s / peak.gbps : 0.0}};
    // The photonic link's energy for the KV bytes it carried: line bits
    // (payload over the encoding, FEC and framing efficiency) at its pJ/bit.
    if (target.sim->board.empty() && target.sim->node.link && target.sim->node.link->photonic()) {
      hw_models::LinkClosedForm cf(*target.sim->node.link->photonic());
      energy = {{"link", moved * 8 / cf.Efficiency() * cf.PjPerBit() * 1e-12},
                {"link_pj_per_payload_bit", cf.PjPerBit() / cf.Efficiency()}};
    }
  }
  nlohmann::json report = {
      {"scenario", s.name},
      {"scenario_file", s.path},
      {"target", o.target},
      {"provider", target.provider},
      {"mode", s.mode},
      {"model",
       {{"name", shape.name},
        {"source", model_source},
        {"layers", shape.layers},
        {"hidden_size", shape.hidden_size},
        {"parameters", shape.parameters()}}},
      {"accelerator", accel.name},
      {"seed", s.seed},
      {"version", LIGHTLOOP_VERSION},
      {"requests", requests.size()},
      {"finished", sum.finished},
      {"rejected", r.rejected},
      {"interrupted", r.interrupted},
      {"output_tokens", sum.output_tokens},
      {"tokens_sha256", TokensSha256(r.outputs)},
      {"virtual_time", clock->is_virtual()},
      {"wall_s", wall_s},
      {"run_s", run_s},
      {"simulated_per_wall", wall_s > 0 ? run_s / wall_s : 0.0},
      {"steps", r.steps},
      {"metrics",
       {{"queue_ms", ToJson(sum.queue_ms)},
        {"ttft_ms", ToJson(sum.ttft_ms)},
        {"itl_ms", ToJson(sum.itl_ms)},
        {"tpot_ms", ToJson(sum.tpot_ms)},
        {"e2e_ms", ToJson(sum.e2e_ms)},
        {"throughput_tok_s", sum.throughput_tok_s},
        {"throughput_req_s", sum.throughput_req_s},
        {"goodput_req_s", sum.goodput_req_s},
        {"slo", {{"ttft_ms", s.slo_ttft_ms}, {"tpot_ms", s.slo_tpot_ms}, {"met", sum.slo_met}}}}},
      {"kv",
       {{"block_bytes", bb},
        {"local_blocks", local_blocks},
        {"remote_blocks", remote_blocks},
        {"codec", s.codec},
        {"bytes_offloaded", r.kv.bytes_offloaded},
        {"bytes_fetched", r.kv.bytes_fetched},
        {"bytes_saved_by_codec", r.kv.bytes_saved},
        {"offload_transfers", r.kv.offload_transfers},
        {"fetch_transfers", r.kv.fetch_transfers},
        {"prefix_hits", r.kv.prefix_hits},
        {"prefix_misses", r.kv.prefix_misses},
        {"prefix_hit_rate",
         lookups ? static_cast<double>(r.kv.prefix_hits) / static_cast<double>(lookups) : 0.0},
        {"evictions", r.kv.evictions},
        {"lost_blocks", r.kv.lost_blocks},
        {"not_arrived", r.kv.not_arrived},
        {"stall_ms", static_cast<double>(r.kv.stall_ns) / 1e6}}},
      {"weights", WeightsJson(s, r.weights, layer_bytes, llama && llama->LayerWeightsAreBf16())},
      {"scheduler",
       {{"preemptions", r.preemptions},
        {"recomputed_tokens", r.recomputed_tokens},
        {"layered_swap_ins", r.layered_swap_ins},
        {"voided_swap_ins", r.voided_swap_ins},
        {"prefill_write_backs", r.prefill_write_backs},
        {"compute_ms", static_cast<double>(r.compute_ns) / 1e6}}},
      {"link", link},
      {"energy_j", energy},  // sim: the link's, for the KV it carried; others report none
  };
  if (target.sim && !target.sim->board.empty()) report["board"] = target.sim->board;
  const uint32_t fv = fi_version();
  report["versions"] = {{"lightloop", LIGHTLOOP_VERSION},
                        {"libfabric", std::to_string(FI_MAJOR(fv)) + "." + std::to_string(FI_MINOR(fv))},
                        {"systemc", sc_core::sc_release()}};
  report["resolved_scenario"] = s.resolved_yaml;
  if (!s.report_metrics.empty()) {
    nlohmann::json headline = nlohmann::json::object();
    for (const std::string& m : s.report_metrics) {
      std::string missing;
      const nlohmann::json* v = FindMetric(report, m, &missing);
      headline[m] = v != nullptr ? *v : nlohmann::json(missing);
    }
    report["headline"] = headline;
  }
  if (!s.thresholds.empty()) {
    nlohmann::json checks = nlohmann::json::array();
    for (const Threshold& t : s.thresholds) {
      ThresholdCheck c = Evaluate(t, report);
      checks.push_back({{"check", c.what}, {"passed", c.passed}, {"detail", c.detail}});
    }
    report["thresholds"] = checks;
  }
  if (!o.out.empty()) {
    LL_RETURN_IF_ERROR(
        WriteFileAtomically((fs::path(o.out) / "report.json").string(), report.dump(2) + "\n"));
    LL_RETURN_IF_ERROR(WriteSeries((fs::path(o.out) / "series.csv").string(), r,
                                   link.is_object() ? link["peak_gbps"].get<double>() : 0.0));
    if (trace) {
      LL_RETURN_IF_ERROR(
          WriteFileAtomically((fs::path(o.out) / "trace.json").string(), trace->Finish(requests, r.times)));
    }
    LL_RETURN_IF_ERROR(WriteFileAtomically((fs::path(o.out) / "scenario.yaml").string(), s.resolved_yaml));
    LL_RETURN_IF_ERROR(WriteFileAtomically((fs::path(o.out) / "report.md").string(), ReportMarkdown(report)));
  }
  return report;
}

rt::StatusOr<std::string> CheckScenario(const Scenario& s) {
  LL_ASSIGN_OR_RETURN(std::vector<wl::Request> requests, LoadRequests(s));
  LL_ASSIGN_OR_RETURN(wl::Accelerator accel, wl::ReadAccelerator(s.accelerator));
  accel = wl::Replicate(accel, s.accelerators);
  wl::ModelShape shape;
  std::string model;
  if (s.mode == "shape") {
    LL_ASSIGN_OR_RETURN(shape, wl::ReadModelShape(s.model_config));
    model = s.model_config;
  } else if (!s.model_dir.empty()) {
    LL_ASSIGN_OR_RETURN(wl::LlamaConfig c, wl::ReadLlamaConfig(s.model_dir + "/config.json"));
    shape = c.shape;
    model = s.model_dir;
  } else {
    model = "random, " + std::to_string(s.random.layers) + " layers, width " +
            std::to_string(s.random.hidden_size);
  }
  if (!s.sim_config.empty()) {
    try {
      (void)hw_models::ReadNode(s.sim_config);
    } catch (const hw_models::ConfigError& e) {
      return rt::InvalidArgument(e.what());
    }
  }
  wl::TraceSummary t = wl::Summarize(requests);
  std::ostringstream out;
  out << s.path << ": ok\n"
      << "  " << t.requests << " requests over " << std::fixed << std::setprecision(1) << t.span_s
      << " s, mean input " << t.mean_input << " and output " << t.mean_output << " tokens\n"
      << "  " << s.mode << " mode, model " << model << ", on " << accel.name << "\n";
  if (shape.layers > 0) {
    mo::KvShape kv{.layers = shape.layers,
                   .kv_heads = shape.kv_heads,
                   .head_dim = shape.head_dim,
                   .dtype_bytes = s.mode == "shape" ? shape.dtype_bytes : 2,
                   .block_tokens = s.block_tokens};
    out << "  KV block " << kv.block_bytes() << " bytes (" << s.block_tokens << " tokens)\n";
  }
  return out.str();
}

std::string CompareTable(const std::vector<nlohmann::json>& reports) {
  std::ostringstream out;
  out << std::left << std::setw(22) << "scenario" << std::setw(7) << "target" << std::setw(9) << "time"
      << std::right << std::setw(22) << "TTFT ms p50/p99" << std::setw(20) << "TPOT ms p50/p99"
      << std::setw(12) << "tok/s" << std::setw(20) << "KV out/in" << std::setw(10) << "wall s"
      << "  tokens identical\n";
  const std::string first = reports.empty() ? "" : reports.front().value("tokens_sha256", "");
  for (const nlohmann::json& r : reports) {
    const nlohmann::json& m = r["metrics"];
    auto pair = [](const nlohmann::json& d) {
      std::ostringstream p;
      // Three significant digits: virtual-time runs of small models are in microseconds.
      p << std::setprecision(3) << d["p50"].get<double>() << " / " << d["p99"].get<double>();
      return p.str();
    };
    std::ostringstream bytes;
    const double out_b = r["kv"]["bytes_offloaded"].get<double>(), in_b = r["kv"]["bytes_fetched"].get<double>();
    const bool gb = std::max(out_b, in_b) >= 1e10;  // a long run moves terabytes
    bytes << std::fixed << std::setprecision(1) << out_b / (gb ? 1e9 : 1e6) << "/" << in_b / (gb ? 1e9 : 1e6)
          << (gb ? " GB" : " MB");
    out << std::left << std::setw(22) << r.value("scenario", "") << std::setw(7)
        << r["target"].get<std::string>() << std::setw(9)
        << (r["virtual_time"].get<bool>() ? "virtual" : "wall") << std::right << std::setw(22)
        << pair(m["ttft_ms"]) << std::setw(20) << pair(m["tpot_ms"]) << std::setw(12) << std::fixed
        << std::setprecision(1) << m["throughput_tok_s"].get<double>() << std::setw(20) << bytes.str()
        << std::setw(10) << std::setprecision(2) << r["wall_s"].get<double>() << "  "
        << (r["tokens_sha256"] == first ? "yes" : "NO") << "\n";
  }
  // How far each run is from the first (e.g. the model's prediction from the
  // prototype's measurement): the relative error of every metric.
  if (reports.size() > 1) {
    const nlohmann::json& base = reports.front()["metrics"];
    out << "\nrelative to the first (" << reports.front().value("scenario", "") << " on "
        << reports.front().value("target", "") << "), (run - first) / first:\n"
        << std::left << std::setw(29) << "" << std::right;
    const std::vector<std::pair<std::string, std::string>> cols = {
        {"ttft_ms", "p50"}, {"ttft_ms", "p99"}, {"tpot_ms", "p50"},      {"tpot_ms", "p99"},
        {"e2e_ms", "p50"},  {"e2e_ms", "p99"},  {"throughput_tok_s", ""}};
    for (const auto& [metric, q] : cols)
      out << std::setw(13) << (q.empty() ? "tok/s" : metric.substr(0, metric.find('_')) + " " + q);
    out << "\n";
    for (size_t i = 1; i < reports.size(); ++i) {
      const nlohmann::json& m = reports[i]["metrics"];
      out << std::left << std::setw(22) << reports[i].value("scenario", "") << std::setw(7)
          << reports[i].value("target", "") << std::right;
      for (const auto& [metric, q] : cols) {
        double a = q.empty() ? base[metric].get<double>() : base[metric][q].get<double>();
        double b = q.empty() ? m[metric].get<double>() : m[metric][q].get<double>();
        std::ostringstream cell;
        if (a == 0) {
          cell << "n/a";
        } else {
          cell << std::showpos << std::fixed << std::setprecision(1) << 100 * (b - a) / a << "%";
        }
        out << std::setw(13) << cell.str();
      }
      out << "\n";
    }
  }
  return out.str();
}

}  // namespace lightloop::testbench
