// SPDX-License-Identifier: Apache-2.0
// The command-level DRAM engine against its timing parameters: both sides of
// every constraint, exact row hit / miss / conflict latency, streaming
// bandwidth and refresh overhead; and the transaction-level model against
// the command-level engine on the same traffic.
#include "lightloop/hw_models/memory/dram_engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <queue>
#include <random>

#include "lightloop/hw_models/memory/dram_transaction_model.h"

namespace lightloop::hw_models {
namespace {

DramParams LoadDram(const std::string& preset) {
  ConfigReader top = ConfigReader::Load(std::string(LIGHTLOOP_HW_PRESETS) + "/memory/" + preset);
  ConfigReader section = top.Section("memory");
  EXPECT_EQ(section.Scalar("impl").value_or(""), "dram");
  DramParams p = ReadDram(section);
  section.Finish();
  top.Finish();
  return p;
}

DramCoord At(int bankgroup, int bank, int64_t row, int64_t column = 0) {
  return {0, 0, bankgroup, bank, row, column};
}

class DramTimingTest : public ::testing::Test {
 protected:
  DramTimingTest() : p_(LoadDram("ddr5_4800.yaml")) { p_.t.tFAW = 40; }  // so tFAW > 4 x tRRD_S

  // `command` must not issue one cycle before `boundary` and may at it.
  void ExpectBoundary(DramEngine& e, DramCommand command, const DramCoord& c, uint64_t boundary) {
    SCOPED_TRACE(std::string(DramCommandName(command)) + " at " + std::to_string(boundary));
    EXPECT_FALSE(e.CanIssue(command, c, boundary - 1));
    EXPECT_TRUE(e.CanIssue(command, c, boundary));
  }

  DramParams p_;
};

TEST_F(DramTimingTest, ActivateToColumnAndPrecharge) {
  DramEngine e(p_);
  const DramTiming& t = p_.t;
  e.Issue(DramCommand::kAct, At(0, 0, 7), 100);
  ExpectBoundary(e, DramCommand::kRead, At(0, 0, 7), 100 + t.tRCD);
  ExpectBoundary(e, DramCommand::kWrite, At(0, 0, 7), 100 + t.tRCD);
  ExpectBoundary(e, DramCommand::kPre, At(0, 0, 7), 100 + t.tRAS);
  e.Issue(DramCommand::kPre, At(0, 0, 7), 100 + t.tRAS);
  ExpectBoundary(e, DramCommand::kAct, At(0, 0, 9), 100 + t.tRAS + t.tRP);  // tRP, and tRC = tRAS + tRP
}

TEST_F(DramTimingTest, ActivateToActivateAndFourActivateWindow) {
  DramEngine e(p_);
  const DramTiming& t = p_.t;
  e.Issue(DramCommand::kAct, At(0, 0, 1), 0);
  ExpectBoundary(e, DramCommand::kAct, At(0, 1, 1), t.tRRD_L);  // same bank group
  ExpectBoundary(e, DramCommand::kAct, At(1, 0, 1), t.tRRD_S);  // other bank group
  e.Issue(DramCommand::kAct, At(1, 0, 1), t.tRRD_S);
  e.Issue(DramCommand::kAct, At(2, 0, 1), 2 * t.tRRD_S);
  e.Issue(DramCommand::kAct, At(3, 0, 1), 3 * t.tRRD_S);
  // A fifth activate waits for the window that began with the first.
  ExpectBoundary(e, DramCommand::kAct, At(4, 0, 1), t.tFAW);
}

TEST_F(DramTimingTest, ColumnToColumnAndTurnarounds) {
  DramEngine e(p_);
  const DramTiming& t = p_.t;
  e.Issue(DramCommand::kAct, At(0, 0, 1), 0);
  e.Issue(DramCommand::kAct, At(1, 0, 1), 100);
  e.Issue(DramCommand::kAct, At(0, 1, 1), 200);
  const uint64_t rd = 1000;
  e.Issue(DramCommand::kRead, At(0, 0, 1), rd);
  ExpectBoundary(e, DramCommand::kRead, At(0, 1, 1), rd + t.tCCD_L);
  ExpectBoundary(e, DramCommand::kRead, At(1, 0, 1), rd + t.tCCD_S);
  ExpectBoundary(e, DramCommand::kWrite, At(1, 0, 1), rd + t.tRTW());
  ExpectBoundary(e, DramCommand::kPre, At(0, 0, 1), rd + t.tRTP);
  const uint64_t wr = 2000;
  e.Issue(DramCommand::kWrite, At(0, 0, 1), wr);
  const uint64_t data_end = wr + t.tCWL + t.tBL;
  ExpectBoundary(e, DramCommand::kWrite, At(0, 1, 1), wr + t.tCCD_L);
  ExpectBoundary(e, DramCommand::kWrite, At(1, 0, 1), wr + t.tCCD_S);
  ExpectBoundary(e, DramCommand::kRead, At(0, 1, 1), data_end + t.tWTR_L);
  ExpectBoundary(e, DramCommand::kRead, At(1, 0, 1), data_end + t.tWTR_S);
  ExpectBoundary(e, DramCommand::kPre, At(0, 0, 1), data_end + t.tWR);
}

TEST_F(DramTimingTest, RefreshAndCommandBus) {
  DramEngine e(p_);
  const DramTiming& t = p_.t;
  e.Issue(DramCommand::kAct, At(0, 0, 1), 0);
  EXPECT_FALSE(e.CanIssue(DramCommand::kRefresh, At(0, 0, 0), 10000)) << "a bank is open";
  e.Issue(DramCommand::kPre, At(0, 0, 1), 500);
  ExpectBoundary(e, DramCommand::kRefresh, At(0, 0, 0), 500 + t.tRP);
  e.Issue(DramCommand::kRefresh, At(0, 0, 0), 1000);
  ExpectBoundary(e, DramCommand::kAct, At(5, 3, 2), 1000 + t.tRFC);
  // One command per cycle on the channel's command bus.
  e.Issue(DramCommand::kAct, At(2, 0, 1), 5000);
  EXPECT_FALSE(e.CanIssue(DramCommand::kPre, At(2, 0, 1), 5000 + t.tRAS - 1));
  e.Issue(DramCommand::kAct, At(3, 0, 1), 6000);
  EXPECT_FALSE(e.CanIssue(DramCommand::kRead, At(2, 0, 1), 6000));
  EXPECT_TRUE(e.CanIssue(DramCommand::kRead, At(2, 0, 1), 6001));
  // State: no read from a closed bank, no activate of an open one.
  EXPECT_FALSE(e.CanIssue(DramCommand::kRead, At(4, 0, 1), 9000));
  EXPECT_FALSE(e.CanIssue(DramCommand::kAct, At(2, 0, 5), 9000));
}

// Runs the engine until transfer `id` completes; returns its cycle.
uint64_t RunUntilDone(DramEngine& e, uint64_t id) {
  for (int guard = 0; guard < 1000000; ++guard) {
    for (auto [done_id, cycle] : e.TakeCompleted()) {
      if (done_id == id) return cycle;
    }
    uint64_t next = e.NextEvent();
    if (next == DramEngine::kNever) break;
    e.RunUntil(next);
  }
  ADD_FAILURE() << "transfer " << id << " never completed";
  return 0;
}

TEST(DramScheduler, RowHitMissAndConflictLatencyIsExact) {
  DramParams p = LoadDram("ddr5_4800.yaml");
  const DramTiming& t = p.t;
  DramEngine e(p);
  std::vector<DramCommandRecord> trace;
  e.set_trace(&trace);
  DramAddressMap map(p);
  const uint64_t a = map.Encode(At(2, 1, 100, 3));
  e.Submit(1, false, a, 64, 1000);
  EXPECT_EQ(RunUntilDone(e, 1), 1000u + t.tRCD + t.tCL + t.tBL);
  ASSERT_EQ(trace.size(), 2u);
  EXPECT_EQ(trace[0].command, DramCommand::kAct);
  EXPECT_EQ(trace[0].cycle, 1000u);
  EXPECT_EQ(trace[1].command, DramCommand::kRead);
  EXPECT_EQ(trace[1].cycle, 1000u + t.tRCD);
  e.Submit(2, false, map.Encode(At(2, 1, 100, 9)), 64, 3000);
  EXPECT_EQ(RunUntilDone(e, 2), 3000u + t.tCL + t.tBL);
  e.Submit(3, false, map.Encode(At(2, 1, 555, 0)), 64, 5000);
  EXPECT_EQ(RunUntilDone(e, 3), 5000u + t.tRP + t.tRCD + t.tCL + t.tBL);
  e.Submit(4, true, map.Encode(At(2, 1, 555, 1)), 64, 7000);
  EXPECT_EQ(RunUntilDone(e, 4), 7000u + t.tCWL + t.tBL);
  EXPECT_EQ(e.stats().row_misses, 1u);
  EXPECT_EQ(e.stats().row_hits, 2u);
  EXPECT_EQ(e.stats().row_conflicts, 1u);
}

TEST(DramScheduler, ReadyRowHitsGoFirst) {
  DramParams p = LoadDram("ddr5_4800.yaml");
  DramEngine e(p);
  DramAddressMap map(p);
  e.Submit(1, false, map.Encode(At(0, 0, 10, 0)), 64, 0);
  RunUntilDone(e, 1);
  // The older request needs another row; the younger one hits the open row.
  e.Submit(2, false, map.Encode(At(0, 0, 20, 0)), 64, 500);
  e.Submit(3, false, map.Encode(At(0, 0, 10, 1)), 64, 500);
  std::vector<uint64_t> order;
  while (order.size() < 2) {
    e.RunUntil(e.NextEvent());
    for (auto [id, cycle] : e.TakeCompleted()) order.push_back(id);
  }
  EXPECT_EQ(order, (std::vector<uint64_t>{3, 2}));
}

TEST(DramScheduler, ClosedPagePolicyClosesTheRow) {
  DramParams p = LoadDram("ddr5_4800.yaml");
  p.page_policy = PagePolicy::kClosed;
  DramEngine e(p);
  DramAddressMap map(p);
  e.Submit(1, false, map.Encode(At(1, 1, 10, 0)), 64, 0);
  RunUntilDone(e, 1);
  e.Submit(2, false, map.Encode(At(1, 1, 10, 1)), 64, 2000);
  EXPECT_EQ(RunUntilDone(e, 2), 2000u + p.t.tRCD + p.t.tCL + p.t.tBL) << "the same row is a miss again";
}

struct StreamResult {
  double gbps = 0;
  double mean_latency_ns = 0;
  DramStats stats;
};

enum Op { kReads, kWrites, kAlternate };

// `count` transfers of `size` bytes, `depth` outstanding, through the command
// engine (command = true) or the transaction model.
StreamResult RunTraffic(const DramParams& p, bool command, Op op, bool random, uint64_t size, int count,
                        int depth) {
  auto is_write = [op](int n) { return op == kWrites || (op == kAlternate && n % 2 == 0); };
  std::mt19937_64 rng(7);
  const uint64_t span = std::min<uint64_t>(p.capacity(), 1ull << 30);
  uint64_t next_seq = 0;
  auto address = [&] { return random ? rng() % (span / size) * size : (next_seq++ * size) % span; };
  DramEngine engine(p);
  DramTransactionModel model(p);
  std::vector<uint64_t> issued_at(static_cast<size_t>(count) + 1);
  double latency_sum = 0;
  uint64_t last = 0;
  int issued = 0, completed = 0;
  auto issue = [&](uint64_t cycle) {
    ++issued;
    issued_at[static_cast<size_t>(issued)] = cycle;
    engine.Submit(static_cast<uint64_t>(issued), is_write(issued), address(), size, cycle);
  };
  if (command) {
    for (int i = 0; i < depth && issued < count; ++i) issue(0);
    while (completed < count) {
      engine.RunUntil(engine.NextEvent());
      for (auto [id, done] : engine.TakeCompleted()) {
        ++completed;
        latency_sum += static_cast<double>(done - issued_at[id]);
        last = std::max(last, done);
        if (issued < count) issue(std::max(done, engine.now()));
      }
    }
  } else {
    std::priority_queue<std::pair<uint64_t, int>, std::vector<std::pair<uint64_t, int>>, std::greater<>> q;
    auto issue_tl = [&](uint64_t cycle) {
      ++issued;
      uint64_t done = model.Serve(is_write(issued), address(), size, cycle);
      latency_sum += static_cast<double>(done - cycle);
      q.push({done, issued});
    };
    for (int i = 0; i < depth && issued < count; ++i) issue_tl(0);
    while (!q.empty()) {
      auto [done, id] = q.top();
      q.pop();
      last = std::max(last, done);
      if (issued < count) issue_tl(done);
    }
  }
  StreamResult r;
  r.gbps = static_cast<double>(size) * count / (static_cast<double>(last) * p.tck_ns);
  r.mean_latency_ns = latency_sum / count * p.tck_ns;
  r.stats = command ? engine.stats() : model.stats();
  return r;
}

TEST(DramScheduler, StreamingBandwidthIsPeakMinusRefresh) {
  for (const char* preset : {"ddr5_4800.yaml", "hbm3.yaml"}) {
    DramParams p = LoadDram(preset);
    DramClosedForm cf(p);
    for (Op op : {kReads, kWrites}) {
      SCOPED_TRACE(std::string(preset) + (op == kWrites ? " writes" : " reads"));
      StreamResult r = RunTraffic(p, true, op, false, 4096, 2000, 16);
      EXPECT_NEAR(r.gbps / cf.StreamingGBps(), 1.0, 0.03) << r.gbps << " GB/s vs " << cf.StreamingGBps();
    }
  }
}

TEST(DramScheduler, RefreshCostsAboutTrfcOverTrefi) {
  DramParams p = LoadDram("ddr5_4800.yaml");
  StreamResult with = RunTraffic(p, true, kReads, false, 4096, 2000, 8);
  DramParams no_refresh = p;
  no_refresh.t.tREFI = 0;
  StreamResult without = RunTraffic(no_refresh, true, kReads, false, 4096, 2000, 8);
  double overhead = 1 - with.gbps / without.gbps;
  EXPECT_NEAR(overhead, DramClosedForm(p).RefreshOverhead(), 0.01);
  EXPECT_GT(with.stats.refreshes, 0u);
  EXPECT_EQ(without.stats.refreshes, 0u);
}

struct Pattern {
  const char* preset;
  Op op;
  bool random;
  uint64_t size;
  int depth;
};

class TransactionLevel : public ::testing::TestWithParam<Pattern> {};

TEST_P(TransactionLevel, WithinFivePercentOfCommandLevel) {
  const Pattern& pat = GetParam();
  DramParams p = LoadDram(pat.preset);
  int count = pat.size >= 65536 ? 150 : 1500;
  StreamResult cmd = RunTraffic(p, true, pat.op, pat.random, pat.size, count, pat.depth);
  StreamResult tl = RunTraffic(p, false, pat.op, pat.random, pat.size, count, pat.depth);
  std::printf("%s %s %s %llu B depth %d: bandwidth tl/command %.4f (%.2f/%.2f GB/s), latency %.4f\n",
              pat.preset,
              pat.op == kWrites  ? "write"
              : pat.op == kReads ? "read"
                                 : "alternating",
              pat.random ? "random" : "sequential", static_cast<unsigned long long>(pat.size), pat.depth,
              tl.gbps / cmd.gbps, tl.gbps, cmd.gbps, tl.mean_latency_ns / cmd.mean_latency_ns);
  EXPECT_NEAR(tl.gbps / cmd.gbps, 1.0, 0.05) << "tl " << tl.gbps << " GB/s, command " << cmd.gbps;
  EXPECT_NEAR(tl.mean_latency_ns / cmd.mean_latency_ns, 1.0, 0.05)
      << "tl " << tl.mean_latency_ns << " ns, command " << cmd.mean_latency_ns;
}

INSTANTIATE_TEST_SUITE_P(Patterns, TransactionLevel,
                         ::testing::Values(Pattern{"ddr5_4800.yaml", kReads, false, 65536, 4},
                                           Pattern{"ddr5_4800.yaml", kWrites, false, 65536, 4},
                                           Pattern{"ddr5_4800.yaml", kReads, true, 65536, 4},
                                           Pattern{"ddr5_4800.yaml", kWrites, true, 65536, 4},
                                           Pattern{"ddr5_4800.yaml", kReads, false, 4096, 16},
                                           Pattern{"ddr5_4800.yaml", kReads, true, 4096, 16},
                                           Pattern{"ddr5_4800.yaml", kReads, true, 4096, 1},
                                           Pattern{"hbm3.yaml", kReads, false, 65536, 8},
                                           Pattern{"hbm3.yaml", kReads, true, 65536, 8},
                                           Pattern{"hbm3.yaml", kWrites, true, 65536, 8},
                                           Pattern{"ddr5_4800.yaml", kAlternate, true, 65536, 4},
                                           Pattern{"ddr5_4800.yaml", kAlternate, false, 4096, 16}));

TEST(DramParamsTest, BadMappingIsAnErrorWithItsLine) {
  ConfigReader r = ConfigReader::Parse("tCK: 0.5\nmapping: ro-ra-ba-co-bg-xx\n", "bad.yaml");
  try {
    ReadDram(r);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(
        e.what(),
        "bad.yaml:2:1: key 'mapping': unknown field 'xx' in 'ro-ra-ba-co-bg-xx' (fields: ro ra ba bg co ch)");
  }
  ConfigReader twice = ConfigReader::Parse("channels: 3\n", "odd.yaml");
  EXPECT_THROW(ReadDram(twice), ConfigError);
}

TEST(DramParamsTest, AddressMapRoundTrips) {
  DramParams p = LoadDram("hbm3.yaml");
  DramAddressMap map(p);
  DramCoord c{17, 0, 3, 2, 12345, 21};
  DramCoord d = map.Decode(map.Encode(c));
  EXPECT_EQ(d.channel, 17);
  EXPECT_EQ(d.bankgroup, 3);
  EXPECT_EQ(d.bank, 2);
  EXPECT_EQ(d.row, 12345);
  EXPECT_EQ(d.column, 21);
  EXPECT_EQ(map.Decode(p.burst_bytes()).channel, 1) << "the channel is the lowest field";
}

}  // namespace
}  // namespace lightloop::hw_models
