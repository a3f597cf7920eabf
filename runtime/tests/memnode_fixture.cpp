// SPDX-License-Identifier: Apache-2.0
#include "memnode_fixture.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "lightloop/runtime/fabric.h"

namespace lightloop::runtime::testing {
namespace {

// Before anything in this process opens libfabric: where the lightloop
// provider is, and the node it simulates.
const bool kSimEnvironment = [] {
  setenv("FI_PROVIDER_PATH", LIGHTLOOP_FI_DIR, 1);
  setenv("FI_LIGHTLOOP_CONFIG", LIGHTLOOP_DEFAULT_NODE_CONFIG, 1);
  return true;
}();

// The sim target's skip list: test name (suite.test) -> why it cannot run there.
const std::map<std::string, std::string> kSimSkips = {
    {"RoundTripTest.StripesAcrossTheMemnodesEndpoints",
     "starts its own memnode process with three endpoints; the sim target's memnode is in-process"},
    {"RoundTripTest.TheClientClockIsTheWallClock",
     "the sim target's clock is virtual by design (ProviderRuntimeLayer.TheDomainClockIsVirtual checks it)"},
    {"ControlPlaneTest.NothingListeningIsUnavailableQuickly", "stops the memnode process"},
    {"FailureTest.MemnodeKilledMidTransferFailsWithinBoundedTime",
     "kills the memnode process; a dead peer on the sim target needs the fabric daemon"},
    {"FailureTest.SecondMemnodeOnTheSamePortIsRefused", "starts a second memnode process"},
    {"FailureTest.SigtermAndSigintStopCleanly", "signals the memnode process"},
    {"FailureTest.BadFlagsNameTheFlag", "runs the memnode program; nothing target-specific to check"},
    {"KvOverMemnode.BlocksRoundTripThroughTwoMemnodes",
     "starts a second memnode process; two in-process memnodes on one simulated fabric are not modelled yet"},
};

// The shared fabric's skips (its memnode is a process, so only these): test name -> why.
const std::map<std::string, std::string> kSharedSkips = {
    {"RoundTripTest.TheClientClockIsTheWallClock",
     "the shared fabric runs in virtual time here (SharedFabric.* check its clock against the in-process "
     "one)"},
};

// The fpga target's skips beyond the sim target's: test name -> why.
const std::map<std::string, std::string> kFpgaSkips = {};

// Which in-process backend this process's provider was built with ("" none yet).
std::string gBackend;  // NOLINT: one per process, like the provider's fabric

std::string SkipReason(const std::string& variant, const std::string& test) {
  if (variant == "sim_shared") {
    auto skip = kSharedSkips.find(test);
    if (skip != kSharedSkips.end()) return skip->second;
  } else if (auto skip = kSimSkips.find(test); skip != kSimSkips.end()) {
    return skip->second;
  }
  if (variant == "fpga") {
    if (auto skip = kFpgaSkips.find(test); skip != kFpgaSkips.end()) return skip->second;
  }
  if (!gBackend.empty() && gBackend != variant) {
    return std::string("this process's lightloop provider already runs the ") +
           (gBackend == "fpga"         ? "fpga (board)"
            : gBackend == "sim_shared" ? "shared fabric"
                                       : "node model") +
           " backend (chosen once per process); run the test alone, as ctest does";
  }
  return "";
}

}  // namespace

std::vector<char> RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<char> out(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = gen();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<char>(gen());
  return out;
}

void MemnodeTest::SetUp() {
  (void)kSimEnvironment;
  if (provider() == "shm") {  // inherited by the memnode process
    const bool cma = GetParam() == "shm_cma";
    setenv("FI_SHM_DISABLE_CMA", cma ? "0" : "1", 1);
    if (ChooseShmCopy().cma != cma) {
      GTEST_SKIP() << "this process's libfabric already runs shm with CMA " << (cma ? "off" : "on")
                   << " (chosen once per process); run the test alone, as ctest does";
    }
  }
  if (provider() == "lightloop") {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string suite = info->test_suite_name(), name = info->name();
    suite = suite.substr(suite.find('/') + 1);  // "Providers/RoundTripTest" -> "RoundTripTest"
    name = name.substr(0, name.find('/'));      // "Test/lightloop" -> "Test"
    if (std::string why = SkipReason(GetParam(), suite + "." + name); !why.empty()) GTEST_SKIP() << why;
    gBackend = GetParam();
  }
  if (GetParam() == "sim_shared") {
    // Inherited by the memnode process: both sides on one fabric daemon of
    // this test process's own (so parallel tests never share one), virtual time.
    unsetenv("FI_LIGHTLOOP_BOARD");
    setenv("FI_LIGHTLOOP_FABRIC", "shared", 1);
    setenv("FI_LIGHTLOOP_TIME", "virtual", 1);
    setenv("FI_LIGHTLOOP_FABRICD_SOCKET",
           ("/tmp/ll-test-fabricd-" + std::to_string(getpid()) + ".sock").c_str(), 1);
  }
  if (in_process()) {
    setenv("FI_LIGHTLOOP_FABRIC", "process", 1);
    if (GetParam() == "fpga") {
      setenv("FI_LIGHTLOOP_BOARD", "virtual", 1);
    } else {
      unsetenv("FI_LIGHTLOOP_BOARD");
    }
    MemnodeOptions o{.provider = "lightloop", .listen = "127.0.0.1:0", .capacity = 512ull << 20};
    auto node = Memnode::Start(o);
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    in_process_ = std::move(node).value();
    address_ = in_process_->control_address();
    return;
  }
  memnode_ = SpawnMemnode();
  ASSERT_NE(memnode_, nullptr);
  address_ = memnode_->control_address();
}

void MemnodeTest::TearDown() {
  memnode_.reset();
  if (in_process_) (void)in_process_->Shutdown();
  in_process_.reset();
  const char* socket = std::getenv("FI_LIGHTLOOP_FABRICD_SOCKET");
  if (GetParam() == "sim_shared" && socket != nullptr) {  // the daemon exits once idle; its log goes now
    std::remove((std::string(socket) + ".log").c_str());
  }
}

std::unique_ptr<MemnodeProcess> MemnodeTest::SpawnMemnode(const std::string& capacity, size_t endpoints) {
  MemnodeProcess::Options o{
      .binary = LIGHTLOOP_BIN, .provider = provider(), .capacity = capacity, .endpoints = endpoints};
  auto node = MemnodeProcess::Spawn(o);
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  return node.ok() ? std::move(node).value() : nullptr;
}

RemoteMemoryClient::Options MemnodeTest::ClientOptions(const std::string& tenant) const {
  RemoteMemoryClient::Options o;
  o.memnode = address_;
  o.tenant = tenant;
  o.provider = provider();
  // On fpga, registering and closing a region moves its bytes through the
  // virtual board (~24 MB of DMA per wall second, fewer on a loaded
  // machine): Allocate and Free of the suite's 64 MiB regions take seconds.
  if (GetParam() == "fpga") o.rpc_timeout = std::chrono::seconds(60);
  return o;
}

std::unique_ptr<RemoteMemoryClient> MemnodeTest::Connect(const std::string& tenant, size_t depth,
                                                         size_t max_chunk) {
  RemoteMemoryClient::Options o = ClientOptions(tenant);
  o.depth = depth;
  o.max_chunk = max_chunk;
  auto client = RemoteMemoryClient::Connect(o);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(client).value() : nullptr;
}

}  // namespace lightloop::runtime::testing
