// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/scenario.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <sstream>

#include "lightloop/hw_models/config/config_reference.h"
#include "lightloop/hw_models/node/memory_node.h"
#include "lightloop/rtl_bridge/board_driver.h"
#include "lightloop/runtime/size.h"

namespace lightloop::testbench {
namespace {

namespace fs = std::filesystem;
namespace hw = lightloop::hw_models;
namespace rt = lightloop::runtime;
namespace wl = lightloop::workloads;

constexpr double kBig = 1e15;

// Top level.
const hw::TextParam kName{"name", "", "text", "what the scenario is called in reports"};
const hw::NumberParam kSeed{"seed", "", 1, 0, kBig, "seed of sampling, synthetic arrivals and random weights",
                            true};

// model:
const hw::ChoiceParam kMode{
    "mode",
    {"functional", "shape"},
    "functional",
    "functional: real arithmetic on a small model; shape: sizes and times of a large one"};
const hw::TextParam kModelPath{"path", "", "folder",
                               "functional: a folder with config.json and model.safetensors (Llama family); "
                               "empty: a random model written into the run's folder"};
const hw::TextParam kPreset{"preset", "llama-3-8b", "name or file",
                            "shape: a preset of workloads/models/ (llama-3-8b, llama-3-70b, mixtral-8x7b, "
                            "qwen2-7b) or a config.json"};
const hw::NumberParam kThreads{"threads", "", 0, 0, 1024, "functional: compute threads (0: every core)",
                               true};
// model.random:
const hw::NumberParam kRLayers{"layers", "", 4, 1, 128, "layers of the random model", true};
const hw::NumberParam kRHidden{"hidden", "", 256, 16, 16384, "hidden size of the random model", true};
const hw::NumberParam kRHeads{"heads", "", 8, 1, 256, "attention heads", true};
const hw::NumberParam kRKvHeads{"kv_heads", "", 2, 1, 256, "KV heads (grouped-query attention)", true};
const hw::NumberParam kRInter{"intermediate", "", 688, 16, 65536, "MLP intermediate size", true};
const hw::NumberParam kRVocab{"vocab", "", 4096, 16, 262144, "vocabulary size", true};

// accelerator:
const hw::TextParam kAccel{"preset", "h100-sxm", "name or file",
                           "a preset of workloads/accelerators/ (h100-sxm, h200, mi300x) or a JSON file"};
const hw::NumberParam kAccelCount{"count", "", 1, 1, 1024, "accelerators serving the model (tensor parallel)",
                                  true};

// workload:
const hw::TextParam kTrace{"trace", "", "file",
                           "an Azure (.csv) or Mooncake (.jsonl) trace; empty: the synthetic section"};
const hw::NumberParam kWinStart{
    "window_start_s", "s", 0, 0, kBig, "keep arrivals from this time of the trace"};
const hw::NumberParam kWinEnd{"window_end_s", "s", 0, 0, kBig, "...up to this time (0: the end)"};
const hw::NumberParam kTimeScale{"time_scale", "", 1, 1e-9, 1e9, "arrival times are multiplied by this"};
const hw::NumberParam kSample{"sample", "", 1, 0, 1, "keep each request with this probability"};
const hw::NumberParam kMaxReq{"max_requests", "", 0, 0, kBig, "at most this many requests (0: all)", true};
const hw::NumberParam kMaxIn{
    "max_input_tokens", "tokens", 0, 0, 1e9, "prompts are cut to this length (0: as given)", true};
const hw::NumberParam kMaxOut{
    "max_output_tokens", "tokens", 0, 0, 1e9, "outputs are cut to this length (0: as given)", true};
// workload.synthetic:
const hw::NumberParam kSynReq{"requests", "", 100, 1, 1e9, "how many requests", true};
const hw::NumberParam kSynRate{"rate_per_s", "1/s", 10, 1e-9, 1e9, "mean arrival rate"};
const hw::ChoiceParam kSynArrival{"arrival", {"poisson", "gamma"}, "poisson", "arrival process"};
const hw::NumberParam kSynBurst{"burstiness", "", 1, 1e-6, 1e6, "gamma: squared coefficient of variation"};
const hw::NumberParam kSynIn{"input_mean", "tokens", 512, 1, 1e7, "mean prompt length"};
const hw::NumberParam kSynOut{"output_mean", "tokens", 128, 1, 1e7, "mean output length"};
const hw::ChoiceParam kSynLengths{
    "lengths", {"fixed", "uniform", "lognormal"}, "fixed", "length distribution"};
const hw::NumberParam kSynGroups{"prefix_groups", "", 0, 0, 1e6, "shared-prefix groups (0: none)", true};
const hw::NumberParam kSynPrefix{
    "prefix_tokens", "tokens", 0, 0, 1e7, "tokens of a group's shared prefix", true};

// scheduler:
const hw::NumberParam kBatchTok{"max_batch_tokens", "tokens", 2048, 1, 1e7, "token budget of one step", true};
const hw::NumberParam kMaxSeqs{"max_seqs", "", 256, 1, 1e6, "sequences running at once", true};
const hw::NumberParam kChunk{
    "prefill_chunk", "tokens", 512, 1, 1e7, "prompt tokens of one sequence per step", true};
const hw::ChoiceParam kPreempt{
    "preemption",
    {"offload", "recompute"},
    "offload",
    "what a preempted sequence's KV does: go to the remote tier, or be recomputed"};
const hw::ChoiceParam kSwapIn{
    "swap_in",
    {"ahead", "layered"},
    "ahead",
    "offload preemption: a sequence's fetch starts a step ahead of it (ahead), or it "
    "joins the step its fetch starts in, each layer waiting for its KV (layered)"};

// kv:
const hw::NumberParam kBlockTok{"block_tokens", "tokens", 16, 1, 65536, "tokens per KV block", true};
const hw::NumberParam kLocalBlocks{"local_blocks",
                                   "blocks",
                                   0,
                                   0,
                                   1e12,
                                   "local tier (accelerator memory) in blocks; 0: from local_bytes",
                                   true};
const hw::TextParam kLocalBytes{
    "local_bytes", "", "size (e.g. 16GiB)",
    "local tier in bytes; empty with local_blocks 0: the accelerator's HBM less the "
    "weights"};
const hw::NumberParam kRemoteBlocks{"remote_blocks",
                                    "blocks",
                                    0,
                                    0,
                                    1e12,
                                    "remote tier (memnode pool) in blocks; 0: four times the local tier",
                                    true};
const hw::NumberParam kHigh{"high_watermark", "", 0.95, 0.01, 1, "eviction starts above this share of local"};
const hw::NumberParam kLow{
    "low_watermark", "", 0.80, 0, 0.99, "...and stops here; the running set fits below"};
const hw::ChoiceParam kEviction{"eviction", {"lru", "prefix_aware"}, "lru", "eviction policy"};
const hw::ChoiceParam kCodec{"codec",
                             {"none", "fp8_e4m3", "fp8_e5m2", "int8", "int4"},
                             "none",
                             "how KV is encoded in the remote tier"};
const hw::ChoiceParam kLayout{
    "layout",
    {"block_major", "layer_major"},
    "block_major",
    "the remote tier's block layout: a block's layers together, or one layer of a run "
    "of blocks together (transfers go layer by layer)"};
const hw::ChoiceParam kWriteBack{
    "write_back",
    {"on_evict", "after_prefill"},
    "on_evict",
    "when KV goes to the remote tier: when evicted, or also as soon as a prompt's "
    "prefill computes it, layer by layer"};
const hw::ChoiceParam kPrefetch{"prefetch",
                                {"best_effort", "wait_complete", "timeout"},
                                "wait_complete",
                                "how long a step waits for KV being fetched"};
const hw::NumberParam kBudget{"prefetch_budget_us", "us", 0, 0, 1e9, "timeout: the wait before recomputing"};
const hw::FlagParam kPrefix{"prefix_cache", true, "reuse KV blocks of identical prompt prefixes"};
const hw::TextParam kCoalesce{"coalesce_bytes", "2MiB", "size", "largest write-back transfer"};
const hw::NumberParam kAlias{
    "alias_blocks",
    "blocks",
    1,
    1,
    1e12,
    "shape mode: the local and the remote tier's slots alias onto this many real ones "
    "each, so tiers of real size need little memory and the copies stay in cache (transfers keep their "
    "sizes)",
    true};

// weights:
const hw::FlagParam kWStream{"stream", false,
                             "functional mode: the model's layer weights live in the remote tier and are "
                             "fetched layer by layer while earlier layers compute (the model keeps none)"};
const hw::NumberParam kWBuffers{
    "buffers", "", 2, 1, 1024, "local buffers for streamed layers (2: double buffering, 3: triple)", true};
const hw::TextParam kWPinned{"pinned", "", "layer[,layer...]",
                             "layers fetched once and kept resident (e.g. 0,31)"};

// sampling:
const hw::NumberParam kTemp{"temperature", "", 0, 0, 100, "0: greedy"};
const hw::NumberParam kTopK{"top_k", "", 0, 0, 1e7, "sample from the k most likely (0: all)", true};

// slo:
const hw::NumberParam kSloTtft{"ttft_ms", "ms", 0,
                               0,         1e9,  "goodput: time to first token at most this (0: any)"};
const hw::NumberParam kSloTpot{"tpot_ms", "ms", 0,
                               0,         1e9,  "goodput: time per output token at most this (0: any)"};

// targets.nic / targets.sim / report:
const hw::TextParam kProvider{"provider", "shm", "libfabric provider",
                              "nic: the provider (tcp, shm, verbs, ...)"};
const hw::TextParam kMemnode{"memnode", "", "host:port[,host:port...]",
                             "nic: running memnodes, the KV's remote tier striped across them; empty: start "
                             "`memnodes` of them"};
const hw::NumberParam kMemnodes{
    "memnodes", "", 1, 1, 16, "nic: memnodes started for the run when memnode is empty", true};
const hw::TextParam kBoard{"board", "",
                           "virtual[,memory=<file>] | pcie:<BAR>[,dma=...] | uio:/dev/uioN[,dma=...]",
                           "fpga: the board; empty: FI_LIGHTLOOP_BOARD, else the virtual board"};
const hw::TextParam kSimConfig{"config", "", "file",
                               "sim: the hw_models node file (empty: the default preset)"};
const hw::NumberParam kSampleEvery{
    "sample_every_ms", "ms", 100, 0.001, 1e9, "time series: one sample this often"};

// The items of a comma-separated value; none when it is empty (the key
// unset). An empty item ("0,,31", "0,") is kept for the caller to refuse.
std::vector<std::string> CommaItems(const std::string& text) {
  std::vector<std::string> items;
  if (text.empty()) return items;
  for (std::string_view piece : rt::SplitCommas(text)) items.emplace_back(piece);
  return items;
}

uint64_t Size(hw::ConfigReader& r, const hw::TextParam& p) {
  std::string text = r.Text(p);
  if (text.empty()) return 0;
  rt::StatusOr<uint64_t> v = rt::ParseSize(text);
  if (!v.ok()) r.Fail(p.name, v.status().message());
  return *v;
}

// A preset by name in `dir` (name.json) or a file relative to the file that wrote it.
std::string PresetOrFile(hw::ConfigReader& r, const hw::TextParam& p, const char* dir) {
  const std::string value = r.Text(p);
  fs::path preset = fs::path(LIGHTLOOP_SOURCE_DIR) / dir / (value + ".json");
  if (value.find('/') == std::string::npos && value.find(".json") == std::string::npos) {
    if (!fs::exists(preset))
      r.Fail(p.name, "no preset '" + value + "' in " + (fs::path(LIGHTLOOP_SOURCE_DIR) / dir).string());
    return preset.string();
  }
  std::string file = r.Path(p);
  if (!fs::exists(file)) r.Fail(p.name, "no file " + file);
  return file;
}

// The sweep section: `cartesian:` and `zip:`, each a mapping of dotted
// scenario keys to lists of values.
void ReadSweep(hw::ConfigReader& top, Scenario& s) {
  if (!top.Has("sweep")) return;
  const YAML::Node sweep = top.Raw("sweep");
  if (!sweep.IsMap()) top.Fail("sweep", "expected a mapping with cartesian: and/or zip:");
  for (const auto& kind : sweep) {
    const std::string name = kind.first.Scalar();
    const std::string at = "sweep." + name;
    if (name != "cartesian" && name != "zip") {
      throw hw::ConfigError(top.LocationOf(at), at, "unknown key (a sweep has cartesian: and zip:)");
    }
    if (!kind.second.IsMap()) {
      throw hw::ConfigError(top.LocationOf(at), at, "expected a mapping of scenario keys to lists of values");
    }
    for (const auto& axis : kind.second) {
      SweepAxis a;
      a.key = axis.first.Scalar();
      const std::string where = at + "." + a.key;
      if (!axis.second.IsSequence() || axis.second.size() == 0) {
        throw hw::ConfigError(top.LocationOf(where), where, "expected a list of values");
      }
      for (const YAML::Node& v : axis.second) {
        if (v.IsMap())
          throw hw::ConfigError(top.LocationOfNode(where, v), where, "a value must not be a mapping");
        a.values.push_back(v);
        a.where.push_back(top.LocationOfNode(where, v));
      }
      (name == "cartesian" ? s.sweep.cartesian : s.sweep.zip).push_back(std::move(a));
    }
  }
}

void Read(hw::ConfigReader& top, Scenario& s) {
  s.name = top.Text(kName);
  if (s.name.empty()) s.name = fs::path(s.path).stem().string();
  s.seed = static_cast<uint64_t>(top.Integer(kSeed));

  hw::ConfigReader model = top.Section("model");
  s.mode = model.Choice(kMode);
  s.threads = static_cast<int>(model.Integer(kThreads));
  if (s.mode == "functional") {
    s.model_dir = model.Path(kModelPath);
    if (!s.model_dir.empty() && !fs::exists(fs::path(s.model_dir) / "config.json")) {
      model.Fail(kModelPath.name, "no config.json in " + s.model_dir);
    }
    hw::ConfigReader rnd = model.Section("random", false);
    s.random.layers = rnd.Integer(kRLayers);
    s.random.hidden_size = rnd.Integer(kRHidden);
    s.random.heads = rnd.Integer(kRHeads);
    s.random.kv_heads = rnd.Integer(kRKvHeads);
    s.random.intermediate_size = rnd.Integer(kRInter);
    s.random.vocab_size = rnd.Integer(kRVocab);
    s.random.seed = s.seed;
    if (s.random.hidden_size % s.random.heads != 0 || s.random.heads % s.random.kv_heads != 0) {
      rnd.Fail(kRHeads.name, "hidden must be a multiple of heads, and heads of kv_heads");
    }
    s.random.head_dim = s.random.hidden_size / s.random.heads;
    rnd.Finish();
  } else {
    s.model_config = PresetOrFile(model, kPreset, "workloads/models");
  }
  model.Finish();

  hw::ConfigReader acc = top.Section("accelerator", false);
  s.accelerator = PresetOrFile(acc, kAccel, "workloads/accelerators");
  s.accelerators = static_cast<int>(acc.Integer(kAccelCount));
  acc.Finish();

  hw::ConfigReader wl = top.Section("workload");
  s.trace = wl.Path(kTrace);
  if (!s.trace.empty() && !fs::exists(s.trace)) wl.Fail(kTrace.name, "no file " + s.trace);
  s.trace_options.window_start_s = wl.Number(kWinStart);
  double end = wl.Number(kWinEnd);
  if (end > 0) s.trace_options.window_end_s = end;
  s.trace_options.time_scale = wl.Number(kTimeScale);
  s.trace_options.sample = wl.Number(kSample);
  s.trace_options.max_requests = static_cast<uint64_t>(wl.Integer(kMaxReq));
  s.trace_options.seed = s.seed;
  s.max_input_tokens = static_cast<uint32_t>(wl.Integer(kMaxIn));
  s.max_output_tokens = static_cast<uint32_t>(wl.Integer(kMaxOut));
  if (s.trace.empty() != wl.Has("synthetic")) {
    wl.Fail(s.trace.empty() ? "synthetic" : "trace", "give exactly one of trace and synthetic");
  }
  // Read only when used, so the resolved scenario has one of the two.
  hw::ConfigReader syn = s.trace.empty() ? wl.Section("synthetic", false)
                                         : hw::ConfigReader::Parse("{}", s.path).Section("synthetic", false);
  s.synthetic.requests = static_cast<uint64_t>(syn.Integer(kSynReq));
  s.synthetic.rate_per_s = syn.Number(kSynRate);
  s.synthetic.arrival = syn.Choice(kSynArrival) == "gamma" ? wl::Arrival::kGamma : wl::Arrival::kPoisson;
  s.synthetic.burstiness = syn.Number(kSynBurst);
  const std::string lengths = syn.Choice(kSynLengths);
  const wl::Lengths kind = lengths == "uniform"     ? wl::Lengths::kUniform
                           : lengths == "lognormal" ? wl::Lengths::kLognormal
                                                    : wl::Lengths::kFixed;
  s.synthetic.input = {.kind = kind, .mean = syn.Number(kSynIn), .min = 1, .max = 2 * syn.Number(kSynIn)};
  s.synthetic.output = {.kind = kind, .mean = syn.Number(kSynOut), .min = 1, .max = 2 * syn.Number(kSynOut)};
  s.synthetic.prefix_groups = static_cast<uint32_t>(syn.Integer(kSynGroups));
  s.synthetic.prefix_tokens = static_cast<uint32_t>(syn.Integer(kSynPrefix));
  s.synthetic.seed = s.seed;
  syn.Finish();
  wl.Finish();

  hw::ConfigReader sch = top.Section("scheduler", false);
  s.max_batch_tokens = static_cast<uint32_t>(sch.Integer(kBatchTok));
  s.max_seqs = static_cast<uint32_t>(sch.Integer(kMaxSeqs));
  s.prefill_chunk = static_cast<uint32_t>(sch.Integer(kChunk));
  s.preemption = sch.Choice(kPreempt);
  s.swap_in = sch.Choice(kSwapIn);
  sch.Finish();

  hw::ConfigReader kv = top.Section("kv", false);
  s.block_tokens = kv.Integer(kBlockTok);
  s.local_blocks = static_cast<uint64_t>(kv.Integer(kLocalBlocks));
  s.local_bytes = Size(kv, kLocalBytes);
  s.remote_blocks = static_cast<uint64_t>(kv.Integer(kRemoteBlocks));
  s.high_watermark = kv.Number(kHigh);
  s.low_watermark = kv.Number(kLow);
  if (s.low_watermark >= s.high_watermark) kv.Fail(kLow.name, "must be below high_watermark");
  s.eviction = kv.Choice(kEviction);
  s.codec = kv.Choice(kCodec);
  s.layout = kv.Choice(kLayout);
  s.write_back = kv.Choice(kWriteBack);
  s.prefetch = kv.Choice(kPrefetch);
  s.prefetch_budget_us = kv.Number(kBudget);
  if (s.swap_in == "layered" && s.prefetch == "best_effort") {
    kv.Fail(kPrefetch.name,
            "best_effort never waits, and scheduler.swap_in: layered would void nearly every swap-in at its "
            "first layer (no compute has hidden its transfer yet); use wait_complete or timeout");
  }
  s.prefix_cache = kv.Flag(kPrefix);
  s.coalesce_bytes = Size(kv, kCoalesce);
  s.alias_blocks = static_cast<uint64_t>(kv.Integer(kAlias));
  kv.Finish();

  hw::ConfigReader weights = top.Section("weights", false);
  s.weights_stream = weights.Flag(kWStream);
  s.weights_buffers = weights.Integer(kWBuffers);
  const std::string pinned = weights.Text(kWPinned);
  for (const std::string& item : CommaItems(pinned)) {
    int64_t layer = -1;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), layer);
    if (ec != std::errc() || end != item.data() + item.size() || item.empty() || layer < 0) {
      weights.Fail(kWPinned.name, "'" + item + "' is not a layer number (want e.g. 0,31)");
    }
    s.weights_pinned.push_back(layer);
  }
  if ((s.weights_stream || !pinned.empty()) && s.mode != "functional") {
    weights.Fail(s.weights_stream ? kWStream.name : kWPinned.name,
                 "needs model.mode: functional (shape mode computes no arithmetic, and would move every "
                 "layer's full weights each step)");
  }
  if (!pinned.empty() && !s.weights_stream) weights.Fail(kWPinned.name, "applies with stream: true");
  weights.Finish();

  hw::ConfigReader smp = top.Section("sampling", false);
  s.temperature = smp.Number(kTemp);
  s.top_k = smp.Integer(kTopK);
  smp.Finish();

  hw::ConfigReader slo = top.Section("slo", false);
  s.slo_ttft_ms = slo.Number(kSloTtft);
  s.slo_tpot_ms = slo.Number(kSloTpot);
  slo.Finish();

  hw::ConfigReader targets = top.Section("targets", false);
  hw::ConfigReader nic = targets.Section("nic", false);
  s.nic_provider = nic.Text(kProvider);
  for (const std::string& address : CommaItems(nic.Text(kMemnode))) {
    if (address.empty() || address.find(':') == std::string::npos) {
      nic.Fail(kMemnode.name, "'" + address + "' is not host:port");
    }
    s.nic_memnodes.push_back(address);
  }
  s.nic_memnode_count = static_cast<int>(nic.Integer(kMemnodes));
  nic.Finish();
  hw::ConfigReader fpga = targets.Section("fpga", false);
  s.fpga_board = fpga.Text(kBoard);
  if (!s.fpga_board.empty()) {
    if (std::string problem = rtl_bridge::BoardSpecProblem(s.fpga_board); !problem.empty()) {
      fpga.Fail(kBoard.name, problem);
    }
  }
  fpga.Finish();
  hw::ConfigReader sim = targets.Section("sim", false);
  s.sim_config = sim.Path(kSimConfig);
  if (!s.sim_config.empty() && !fs::exists(s.sim_config))
    sim.Fail(kSimConfig.name, "no file " + s.sim_config);
  if (sim.Has("node")) {  // a node written here, e.g. {include: [links/..., memory/...], rails: 4}
    if (!s.sim_config.empty()) sim.Fail("node", "give one of config and node");
    hw::ConfigReader node = sim.Section("node");
    (void)hw::ReadNode(node, node.LocationOf("rails").file);
    node.Finish();
    YAML::Emitter out;
    out << top.Effective()["targets"]["sim"]["node"];
    s.sim_node = std::string(out.c_str()) + "\n";
  }
  sim.Finish();
  targets.Finish();

  hw::ConfigReader report = top.Section("report", false);
  s.sample_every_ms = report.Number(kSampleEvery);
  if (report.Has("metrics")) {
    const YAML::Node list = report.Raw("metrics");
    if (!list.IsSequence())
      report.Fail("metrics", "expected a list of report.json paths, e.g. [metrics.ttft_ms.p99]");
    for (const YAML::Node& m : list) {
      if (!m.IsScalar())
        throw hw::ConfigError(report.LocationOfNode("metrics", m), "report.metrics", "expected a path");
      s.report_metrics.push_back(m.Scalar());
    }
    report.SetEffective("metrics", list);
  }
  report.Finish();
  s.thresholds = ReadThresholds(top, "thresholds", false);
  ReadSweep(top, s);
  top.Finish();
}

std::string Emit(const Scenario& s, const YAML::Node& effective) {
  YAML::Emitter out;
  out << effective;
  return "# The scenario " + s.path +
         " resolved: fragments merged, every key with its value, paths absolute.\n"
         "# `lightloop run` of this file repeats the run.\n" +
         std::string(out.c_str()) + "\n";
}

}  // namespace

rt::StatusOr<Scenario> LoadScenario(const std::string& path,
                                    const std::vector<hw::ConfigOverride>& overrides) {
  Scenario s;
  s.path = path;
  try {
    hw::ComposeOptions co;
    co.search = {(fs::path(LIGHTLOOP_SOURCE_DIR) / "testbench" / "fragments").string(),
                 (fs::path(LIGHTLOOP_SOURCE_DIR) / "hw_models" / "presets").string()};
    co.overrides = overrides;
    hw::ConfigReader top = hw::ConfigReader::Compose(path, co);
    Read(top, s);
    s.resolved_yaml = Emit(s, top.Effective());
  } catch (const hw::ConfigError& e) {
    return rt::InvalidArgument(e.what());
  }
  return s;
}

rt::StatusOr<std::vector<SweepPoint>> ExpandSweep(const Scenario& s) {
  size_t zipped = 1;
  for (const SweepAxis& a : s.sweep.zip) {
    if (a.values.size() != s.sweep.zip.front().values.size()) {
      return rt::InvalidArgument(a.where.front().ToString() + ": key 'sweep.zip." + a.key + "': has " +
                                 std::to_string(a.values.size()) + " values, '" + s.sweep.zip.front().key +
                                 "' has " + std::to_string(s.sweep.zip.front().values.size()) +
                                 " (zipped lists step together)");
    }
    zipped = a.values.size();
  }
  std::vector<SweepPoint> points{SweepPoint{}};
  auto label = [](const std::string& key, const YAML::Node& v) {
    return key + "=" + (v.IsScalar() ? v.Scalar() : YAML::Dump(v));
  };
  for (const SweepAxis& a : s.sweep.cartesian) {
    std::vector<SweepPoint> next;
    for (const SweepPoint& p : points) {
      for (size_t i = 0; i < a.values.size(); ++i) {
        SweepPoint q = p;
        q.overrides.push_back({a.key, a.values[i], a.where[i]});
        q.label += (q.label.empty() ? "" : " ") + label(a.key, a.values[i]);
        next.push_back(std::move(q));
      }
    }
    points = std::move(next);
  }
  if (!s.sweep.zip.empty()) {
    std::vector<SweepPoint> next;
    for (const SweepPoint& p : points) {
      for (size_t i = 0; i < zipped; ++i) {
        SweepPoint q = p;
        for (const SweepAxis& a : s.sweep.zip) {
          q.overrides.push_back({a.key, a.values[i], a.where[i]});
          q.label += (q.label.empty() ? "" : " ") + label(a.key, a.values[i]);
        }
        next.push_back(std::move(q));
      }
    }
    points = std::move(next);
  }
  return points;
}

std::vector<hw::ParamInfo> ScenarioReference() {
  std::vector<hw::ParamInfo> all;
  for (const char* mode : {"functional", "shape"}) {
    Scenario s;
    s.path = "reference.yaml";
    hw::ConfigReader top = hw::ConfigReader::Parse(
        std::string("model: {mode: ") + mode +
            "}\nworkload: {synthetic: {}}\nthresholds: [{metric: m, min: 0, max: 1}]\n",
        s.path);
    Read(top, s);
    for (const hw::ParamInfo& p : top.declared()) {
      if (std::none_of(all.begin(), all.end(), [&](const hw::ParamInfo& q) { return q.key == p.key; })) {
        all.push_back(p);
      }
    }
  }
  return all;
}

std::string ScenarioReferenceMarkdown() {
  std::ostringstream out;
  out << "Generated by `lightloop info --scenario-reference > docs/scenario-reference.md` from the parameter "
         "declarations in `testbench/src/run/scenario.cpp`; do not edit.\n";
  out << "\n# Scenario reference\n\n";
  out << "Every key of a scenario file (`lightloop run <scenario.yaml>`), by section, with its type, unit, "
         "default, range and meaning. Relative paths are relative to the scenario's folder; a preset name is "
         "looked up in `workloads/models/` or `workloads/accelerators/`.\n\n";
  hw::RenderParamTable(out, ScenarioReference());
  out << "\n## Beyond the keys above\n\n"
         "- `include:` (a path or a list of paths, at the top or in any section): fragments merged in order, "
         "key by key, under the file's own keys. A path is looked up beside the including file, then in "
         "`testbench/fragments/`, then in `hw_models/presets/`. Errors name the fragment's file and line.\n"
         "- `targets.sim.node:` a memory node written in the scenario instead of `targets.sim.config` (the "
         "keys "
         "of a node file, docs/config-reference.md), e.g. `{include: [links/optical_io_16x32g.yaml, "
         "memory/ddr5_4800.yaml], rails: 2, link: {fibre_m: 100}}`. The resolved scenario has it inline.\n"
         "- `sweep:` (`lightloop sweep` only): `cartesian:` and `zip:` map dotted keys of this reference "
         "(or of `targets.sim.node`) to lists of values; every combination of the cartesian lists runs, each "
         "with "
         "the zipped lists stepping together.\n"
         "- `thresholds:` a list of checks on the report (`{metric: metrics.tpot_ms.p99, max: 30}`, `min`, "
         "`golden: FILE`); `lightloop run` reports each and exits non-zero when one fails; a suite checks "
         "them "
         "too. `same_as` and `max_error_pct`/`vs` compare with other cases: suites only "
         "(docs/testbench.md).\n"
         "- `report.metrics:` a list of report.json paths (`[metrics.ttft_ms.p99, kv.bytes_fetched]`) that "
         "`lightloop run` prints after its table and report.md puts first.\n"
         "\n`lightloop check --resolved <scenario>` prints the scenario resolved: every key with its value, "
         "as "
         "each report folder keeps it in `scenario.yaml`.\n";
  return out.str();
}

}  // namespace lightloop::testbench
