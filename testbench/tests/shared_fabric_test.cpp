// SPDX-License-Identifier: Apache-2.0
// Several processes on one simulated fabric (FI_LIGHTLOOP_FABRIC=shared,
// the fabric daemon `lightloop fabricd`):
//  - unmodified libfabric programs: fi_info documents the parameters, and
//    fi_pingpong runs as server and client in paced time, its latency the
//    configured link's slowed by the dilation;
//  - lightloop's own memnode and client in two processes, in virtual time,
//    measure exactly what the in-process fabric measures, run after run;
//    a memnode and two clients share the node's link and repeat exactly;
//  - a daemon of another configuration, a second daemon on one socket and a
//    daemon that dies are clear errors, never a hang.
// Each test has its own daemon socket (FI_LIGHTLOOP_FABRICD_SOCKET).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "lightloop/hw_models/node/memory_node.h"
#include "run_lightloop.h"

namespace lightloop::testbench {
namespace {

std::string Preset(const std::string& name) {
  return std::string(LIGHTLOOP_HW_PRESETS) + "/nodes/" + name;
}

// One row of fi_pingpong's table: per transfer time (us) and MB/s.
struct PingpongRow {
  double usec_per_xfer = 0, mb_per_s = 0;
};

class SharedFabric : public ScratchDirTest {
 protected:
  // The environment of every process of the test: the provider, this test's
  // daemon socket, and `extra`.
  std::string Env(const std::string& extra = "") const {
    return "FI_PROVIDER_PATH=" LIGHTLOOP_FI_DIR " FI_LIGHTLOOP_FABRICD_SOCKET=" + socket() + " " + extra;
  }
  std::string socket() const { return (dir_ / "fabricd.sock").string(); }

  // Runs fi_pingpong as server and client (retrying the client while the
  // server's control port is not up yet); both must finish.
  PingpongRow Pingpong(const std::string& env, size_t size, int iterations) const {
    const int port = 20000 + static_cast<int>(getpid() % 20000);
    const std::string common =
        "fi_pingpong -p lightloop -e rdm -S " + std::to_string(size) + " -I " + std::to_string(iterations);
    const std::string server_out = (dir_ / "server.out").string(),
                      client_out = (dir_ / "client.out").string();
    std::ostringstream script;
    script << "export " << env << "; timeout 120 " << common << " -B " << port << " > " << server_out
           << " 2>&1 & server=$!; for i in $(seq 40); do timeout 120 " << common << " -P " << port
           << " 127.0.0.1 > " << client_out << " 2>&1; client=$?; [ $client = 0 ] && break; "
           << "grep -q -i refused " << client_out << " || break; sleep 0.25; done; wait $server; "
           << "echo client=$client server=$?";
    const std::string out = Shell(script.str()).out;
    std::string client = Read(client_out), server = Read(server_out);
    EXPECT_NE(out.find("client=0 server=0"), std::string::npos) << out << "\nclient:\n"
                                                                << client << "\nserver:\n"
                                                                << server;
    // The last line: bytes #sent #ack total time MB/sec usec/xfer Mxfers/sec
    std::istringstream lines(client);
    std::string line, last;
    while (std::getline(lines, line)) {
      if (!line.empty() && std::isdigit(static_cast<unsigned char>(line[0]))) last = line;
    }
    std::istringstream row(last);
    std::string bytes, sent, ack, total, time;
    PingpongRow result;
    row >> bytes >> sent >> ack >> total >> time >> result.mb_per_s >> result.usec_per_xfer;
    EXPECT_GT(result.usec_per_xfer, 0) << client;
    return result;
  }
};

TEST_F(SharedFabric, FiInfoDocumentsTheSharedFabricParameters) {
  CommandResult r = Shell("env " + Env() + " fi_info -e");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* name : {"FI_LIGHTLOOP_FABRIC", "FI_LIGHTLOOP_TIME", "FI_LIGHTLOOP_DILATION",
                           "FI_LIGHTLOOP_FABRICD_SOCKET", "FI_LIGHTLOOP_CONFIG"}) {
    EXPECT_NE(r.out.find(name), std::string::npos) << name << " missing from fi_info -e:\n" << r.out;
  }
}

// fi_pingpong knows nothing of virtual time: the provider runs its fabric in
// paced time (wall time = simulated time x dilation), so its ordinary timers
// show the link. One transfer of a ping-pong is a message's flight over the
// link into the target's memory; the software between two transfers adds to
// it, so the bounds are one-sided where that matters.
TEST_F(SharedFabric, FiPingpongRunsInTwoProcessesAndFollowsTheLink) {
  hw_models::NodeConfig node = hw_models::ReadNode(Preset("optical_io_fixed.yaml"));
  hw_models::LinkClosedForm cf(*node.link->photonic());
  auto one_way_ns = [&](uint64_t n) { return cf.TransferLatencyNs(n) + node.memory->IdleLatencyNs(true, n); };

  // Dilations large enough that a loaded machine's software time between
  // transfers (a few ms under a parallel build) stays small beside a transfer.
  const double big_dilation = 10000, small_dilation = 100000;
  PingpongRow big = Pingpong(Env("FI_LIGHTLOOP_DILATION=10000"), 1 << 20, 20);
  const double big_sim_ns = big.usec_per_xfer * 1000 / big_dilation;
  const double big_sim_gbps = big.mb_per_s * big_dilation / 1000;
  std::printf(
      "fi_pingpong 1 MiB, dilation %.0f: %.1f us/xfer wall = %.1f ns simulated (closed form %.1f, ratio "
      "%.4f); %.2f GB/s simulated (link goodput %.2f)\n",
      big_dilation, big.usec_per_xfer, big_sim_ns, one_way_ns(1 << 20), big_sim_ns / one_way_ns(1 << 20),
      big_sim_gbps, cf.ExpectedGoodputGBps() * static_cast<double>(node.rails));
  EXPECT_GE(big_sim_ns / one_way_ns(1 << 20), 0.99);
  EXPECT_LE(big_sim_ns / one_way_ns(1 << 20), 1.3);

  // A fresh daemon for the other dilation: one that runs is refused (below).
  std::filesystem::remove(socket());
  for (int i = 0; i < 100 && std::filesystem::exists(socket()); ++i) usleep(50000);
  const std::string env = "FI_PROVIDER_PATH=" LIGHTLOOP_FI_DIR " FI_LIGHTLOOP_FABRICD_SOCKET=" +
                          (dir_ / "fabricd-small.sock").string() + " FI_LIGHTLOOP_DILATION=100000";
  PingpongRow small = Pingpong(env, 64, 30);
  const double small_sim_ns = small.usec_per_xfer * 1000 / small_dilation;
  std::printf(
      "fi_pingpong 64 B, dilation %.0f: %.1f us/xfer wall = %.2f ns simulated (closed form %.2f, ratio "
      "%.4f)\n",
      small_dilation, small.usec_per_xfer, small_sim_ns, one_way_ns(64), small_sim_ns / one_way_ns(64));
  EXPECT_GE(small_sim_ns / one_way_ns(64), 0.99);
  EXPECT_LE(small_sim_ns / one_way_ns(64), 1.5);
}

// The runtime on the shared fabric, with no setting beyond the provider's
// path: `bench transport` starts a memnode process (which puts itself on the
// shared fabric), the client joins it when it inserts the memnode's address,
// and both meet through the daemon they started. In
// virtual time the figures are those of the in-process fabric (same model,
// same arithmetic), to the last digit, and the same again on a second run.
TEST_F(SharedFabric, MemnodeAndClientInTwoProcessesMeasureWhatTheInProcessFabricDoes) {
  const std::string args = "--sizes 64K,1M --depth 8 --min-time-ms 1 --latency-iterations 20";
  nlohmann::json in_process = LightloopJson("bench transport --target sim " + args);
  auto shared_run = [&](int i) {
    std::string json = (dir_ / ("shared" + std::to_string(i) + ".json")).string();
    CommandResult r =
        Lightloop("bench transport --target nic --provider lightloop " + args + " --json " + json, Env());
    EXPECT_EQ(r.code, 0) << r.out;
    std::ifstream in(json);
    return in ? nlohmann::json::parse(in) : nlohmann::json();
  };
  nlohmann::json first = shared_run(1), second = shared_run(2);
  ASSERT_FALSE(in_process.empty());
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  EXPECT_EQ(first["time"], "virtual");
  ASSERT_EQ(first["results"].size(), in_process["results"].size());
  ASSERT_EQ(second["results"].size(), in_process["results"].size());
  for (size_t i = 0; i < first["results"].size(); ++i) {
    const nlohmann::json &a = first["results"][i], &b = second["results"][i], &ref = in_process["results"][i];
    SCOPED_TRACE(a["op"].get<std::string>() + " " + std::to_string(a["size"].get<uint64_t>()));
    EXPECT_EQ(a["op"], ref["op"]);
    EXPECT_EQ(a["size"], ref["size"]);
    for (const char* key : {"gbps", "lat_us_p50", "lat_us_p99", "operations"}) {
      EXPECT_EQ(a[key], ref[key]) << key << ": two processes vs one";
      EXPECT_EQ(a[key], b[key]) << key << ": first vs second run";
    }
  }
}

// A memnode process and two clients at once, in virtual time: the daemon
// waits for all three (FI_LIGHTLOOP_PROCS=3) before time starts, so however
// the host schedules them the run repeats exactly (which client is which is
// the order they joined, so the pair of results is compared); both go
// through the node's one link, which they share.
TEST_F(SharedFabric, TwoClientsShareTheNodesLinkAndRepeatExactly) {
  const std::string args = "--sizes 1M --depth 8 --min-time-ms 1 --latency-iterations 20";
  auto run = [&](int i) {
    const std::string tag = (dir_ / ("run" + std::to_string(i))).string();
    CommandResult r =
        Shell("export " + Env("FI_LIGHTLOOP_PROCS=3 FI_LIGHTLOOP_FABRICD_SOCKET=" + tag + ".sock") + "; " +
              LIGHTLOOP_BIN + " memnode --provider lightloop --listen 127.0.0.1:0 --capacity 256MiB > " +
              tag + ".memnode 2>&1 & mn=$!; for k in $(seq 100); do grep -q \"memnode ready\" " + tag +
              ".memnode && break; sleep 0.1; done; addr=$(sed -n \"s/.*control=\\([^ ]*\\).*/\\1/p\" " + tag +
              ".memnode); for c in a b; do timeout 120 " + LIGHTLOOP_BIN +
              " bench transport --provider lightloop --memnode $addr " + args + " --json " + tag +
              "-$c.json > " + tag +
              "-$c.out 2>&1 & done; wait %2; ra=$?; wait %3; rb=$?; kill $mn; wait $mn; "
              "echo clients=$ra,$rb");
    EXPECT_NE(r.out.find("clients=0,0"), std::string::npos)
        << r.out << Read(tag + ".memnode") << Read(tag + "-a.out") << Read(tag + "-b.out");
    std::vector<nlohmann::json> results;
    for (const char* c : {"-a.json", "-b.json"}) {
      std::ifstream in(tag + c);
      nlohmann::json j = in ? nlohmann::json::parse(in) : nlohmann::json();
      nlohmann::json figures = nlohmann::json::array();
      for (const auto& x : j["results"]) {
        figures.push_back({x["op"], x["size"], x["gbps"], x["lat_us_p50"], x["lat_us_p99"], x["operations"]});
      }
      results.push_back(figures);
    }
    std::sort(results.begin(), results.end());
    return results;
  };
  std::vector<nlohmann::json> first = run(1), second = run(2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first, second);
  hw_models::NodeConfig node = hw_models::ReadNode(Preset("optical_io_fixed.yaml"));
  const double link = hw_models::LinkClosedForm(*node.link->photonic()).PayloadGBps();
  double together = 0;
  for (const nlohmann::json& client : first) {
    for (const auto& x : client) {
      if (x[0] == "write" && x[1] == 1 << 20) together += x[2].get<double>();
    }
  }
  std::printf(
      "two clients, 1 MiB writes at depth 8 each: %s and %s; together %.3f GB/s on the %.3f GB/s link\n",
      first[0].dump().c_str(), first[1].dump().c_str(), together, link);
  EXPECT_GT(together, 0.9 * link);
  EXPECT_LT(together, 1.01 * link);  // one link between them, not one each
}

// FI_LIGHTLOOP_PROCS names more processes than come: after the timeout the
// daemon tells those that joined why, and the run fails, rather than wait
// for ever at time 0.
TEST_F(SharedFabric, FewerProcessesThanFiLightloopProcsIsAnErrorNotAHang) {
  auto start = std::chrono::steady_clock::now();
  CommandResult r = Lightloop("bench transport --target nic --provider lightloop --sizes 64K --min-time-ms 1",
                              Env("FI_LIGHTLOOP_PROCS=3 FI_LIGHTLOOP_PROCS_TIMEOUT=2"));
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30)) << r.out;
  EXPECT_NE(r.out.find("the fabric daemon stopped: only 2 of the 3 processes that FI_LIGHTLOOP_PROCS names "
                       "joined the fabric within 2 s"),
            std::string::npos)
      << r.out;
}

TEST_F(SharedFabric, ADaemonOfAnotherConfigurationOrASecondDaemonIsAClearError) {
  const std::string log = (dir_ / "daemon.log").string();
  CommandResult up =
      Lightloop("fabricd --socket " + socket() + " --time virtual --idle-exit 30 --daemonize > " + log, Env());
  ASSERT_EQ(up.code, 0) << up.out << Read(log);
  EXPECT_NE(Read(log).find("fabricd ready on " + socket()), std::string::npos) << Read(log);

  // (--idle-exit: should the first be gone, this one fails the test instead of serving for ever)
  CommandResult second = Lightloop("fabricd --socket " + socket() + " --idle-exit 2", Env());
  EXPECT_NE(second.code, 0);
  EXPECT_NE(second.out.find("a fabric daemon already serves " + socket()), std::string::npos) << second.out;

  CommandResult other =
      Lightloop("bench transport --target nic --provider lightloop --sizes 64K --min-time-ms 1",
                Env("FI_LIGHTLOOP_FABRIC=shared FI_LIGHTLOOP_TIME=virtual FI_LIGHTLOOP_CONFIG=" +
                    Preset("pam4_fixed.yaml")));
  EXPECT_NE(other.code, 0);
  EXPECT_NE(other.out.find("this fabric daemon runs " + Preset("optical_io_fixed.yaml") +
                           " and the process asks for " + Preset("pam4_fixed.yaml")),
            std::string::npos)
      << other.out;

  CommandResult timing =
      Lightloop("bench transport --target nic --provider lightloop --sizes 64K --min-time-ms 1",
                Env("FI_LIGHTLOOP_FABRIC=shared FI_LIGHTLOOP_TIME=virtual "
                    "FI_LIGHTLOOP_TIMING=closed_form"));
  EXPECT_NE(timing.code, 0);
  EXPECT_NE(
      timing.out.find("this fabric daemon times transfers with tlm and the process asks for closed_form"),
      std::string::npos)
      << timing.out;

  CommandResult paced =
      Lightloop("bench transport --target nic --provider lightloop --sizes 64K --min-time-ms 1",
                Env("FI_LIGHTLOOP_FABRIC=shared FI_LIGHTLOOP_TIME=paced"));
  EXPECT_NE(paced.code, 0);
  EXPECT_NE(paced.out.find("this fabric daemon runs in virtual time and the process asks for paced"),
            std::string::npos)
      << paced.out;
}

// The daemon is killed while a memnode and its client use it, 8 s in: after
// the bench's 3 s memcpy baseline, while it measures 3 s of virtual time
// (far longer in wall time). The pkill pattern is anchored: this test's own
// shell has the daemon's command in its text: the run ends
// with an error naming what failed within seconds, and leaves no staging
// segment behind.
TEST_F(SharedFabric, ADaemonThatDiesFailsTheRunInBoundedTime) {
  auto start = std::chrono::steady_clock::now();
  CommandResult r =
      Shell("export " + Env("FI_LIGHTLOOP_FABRIC=shared FI_LIGHTLOOP_TIME=virtual") +
            "; (sleep 8; pkill -KILL -f \"^[^ ]*lightloop fabricd --socket " + socket() +
            "\") & timeout -s KILL 60 " + LIGHTLOOP_BIN +
            " bench transport --target nic --provider lightloop --sizes 64K --min-time-ms 3000; "
            "echo exit=$?");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(r.out.find("exit=1"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("exit=137"), std::string::npos) << "hung until killed:\n" << r.out;
  EXPECT_LT(secs, 30) << r.out;
  EXPECT_NE(r.out.find("lightloop bench: error:"), std::string::npos) << r.out;
  // Other tests' processes may have segments of their own now: only those
  // of processes that have exited count.
  const std::string prefix = "lightloop-fab-" + std::to_string(getuid()) + "-";
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm")) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const long pid = std::stol(name.substr(prefix.size()));
    EXPECT_FALSE(kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) << e.path() << " left behind";
  }
}

}  // namespace
}  // namespace lightloop::testbench
