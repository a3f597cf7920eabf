// SPDX-License-Identifier: Apache-2.0
// The pcie backend, unchanged, against a `lightloop board --virtual` process:
// its register-window file stands in for a BAR's resource0 and its DMA area
// for a u-dma-buf. Random round trips (checked in the process's board-memory
// file too), errors under injected link errors, a killed board process and a
// clean SIGTERM exit are reported clearly and never hang.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lightloop/rtl_bridge/board_driver.h"
#include "lightloop/rtl_bridge/board_regs.h"

extern char** environ;

namespace lightloop::rtl_bridge {
namespace {

namespace regs = board_regs;
using ::testing::AnyOf;
using ::testing::HasSubstr;

// `lightloop board --virtual <args>` with its stdout on a pipe; the fields of
// its "board ready" line.
class BoardProcess {
 public:
  explicit BoardProcess(const std::string& args) {
    prefix_ = "/dev/shm/ll-test-board-" + std::to_string(getpid());
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    const std::string cmd = std::string(LIGHTLOOP_BIN) + " board --virtual --prefix " + prefix_ + " " + args;
    const char* argv[] = {"/bin/sh", "-c", nullptr, nullptr};
    const std::string exec_cmd = "exec " + cmd;
    argv[2] = exec_cmd.c_str();
    if (posix_spawn(&pid_, "/bin/sh", &fa, nullptr, const_cast<char**>(argv), environ) != 0) {
      throw std::runtime_error("spawn " + cmd);
    }
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
    char line[1024];
    while (fgets(line, sizeof line, out_) != nullptr) {
      ready_ = line;
      if (ready_.rfind("board ready", 0) == 0) break;
    }
    if (ready_.rfind("board ready", 0) != 0) throw std::runtime_error("no ready line from " + cmd);
  }
  ~BoardProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ != nullptr) fclose(out_);
    for (const char* ext : {".regs", ".mem", ".dma"}) std::filesystem::remove(prefix_ + ext);
  }

  std::string Field(const std::string& key) const {
    const size_t at = ready_.find(" " + key + "=");
    if (at == std::string::npos) return {};
    const size_t start = at + key.size() + 2;
    return ready_.substr(start, ready_.find_first_of(" \n", start) - start);
  }
  // Sends `sig` and returns the exit status (-1 for a signal death).
  int Stop(int sig) {
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  void Kill() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  const std::string& prefix() const { return prefix_; }
  const std::string& ready() const { return ready_; }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  std::string prefix_;
  std::string ready_;
};

std::vector<uint8_t> RandomBytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

TEST(BoardProcessTest, ReadyLineNamesTheFilesAndThePcieSpec) {
  BoardProcess p("--mem 16MiB");
  EXPECT_EQ(p.Field("regs"), p.prefix() + ".regs");
  EXPECT_EQ(p.Field("mem_bytes"), std::to_string(16 << 20));
  EXPECT_THAT(p.Field("spec"), HasSubstr("pcie:" + p.prefix() + ".regs,dma=shm:" + p.prefix() + ".dma@0x"));
  EXPECT_EQ(std::filesystem::file_size(p.prefix() + ".regs"), 4096u);
}

TEST(BoardProcessTest, PcieBackendRoundTripsRandomData) {
  BoardProcess p("--mem 64MiB");
  auto board = OpenBoard(p.Field("spec"));
  EXPECT_EQ(board->memory_bytes(), 64u << 20);
  EXPECT_THAT(board->backend().name(), HasSubstr("pcie " + p.prefix() + ".regs"));
  // The board memory file shows what the DMA engine wrote.
  const int fd = open((p.prefix() + ".mem").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto* mem = static_cast<uint8_t*>(mmap(nullptr, 64 << 20, PROT_READ, MAP_SHARED, fd, 0));
  close(fd);
  ASSERT_NE(mem, MAP_FAILED);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20; ++i) {
    const size_t len = 1 + rng() % (i % 5 == 0 ? (2 << 20) : 20000);
    const uint64_t addr = rng() % ((64u << 20) - len);
    const std::vector<uint8_t> data = RandomBytes(rng, len);
    board->Write(addr, data.data(), len);
    ASSERT_EQ(std::memcmp(mem + addr, data.data(), len), 0) << "board memory file, round " << i;
    std::vector<uint8_t> back(len);
    board->Read(addr, back.data(), len);
    ASSERT_EQ(back, data) << "round " << i;
  }
  munmap(mem, 64 << 20);
  EXPECT_EQ(board->Read32(regs::kDmaErrorsOffset), 0u);
  EXPECT_GT(board->Read32(regs::kDmaCompletedOffset), 20u);
}

TEST(BoardProcessTest, PcieBackendSurvivesInjectedLinkErrors) {
  BoardProcess p("--mem 8MiB --err-threshold 655 --fwd-latency 8 --rev-latency 8");
  auto board = OpenBoard(p.Field("spec"));
  board->Write32(regs::kControlOffset, regs::control::kLinkEnableMask | regs::control::kErrInjectMask);
  std::mt19937_64 rng(9);
  const std::vector<uint8_t> data = RandomBytes(rng, 1 << 20);
  board->Write(0, data.data(), data.size());
  std::vector<uint8_t> back(data.size());
  board->Read(0, back.data(), back.size());
  EXPECT_EQ(back, data);
  // The window is refreshed one register per cycle; give it a sweep.
  const auto start = std::chrono::steady_clock::now();
  while (board->Read32(regs::kReplaysOffset) == 0 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
  }
  EXPECT_GT(board->Read32(regs::kCrcErrorsOffset), 10u);
  EXPECT_GT(board->Read32(regs::kReplaysOffset), 5u);
}

TEST(BoardProcessTest, AKilledBoardProcessIsReportedNotAHang) {
  BoardProcess p("--mem 1MiB");
  auto board = OpenBoard(p.Field("spec"), {.timeout = std::chrono::milliseconds(20000),
                                           .stall_limit = std::chrono::milliseconds(300)});
  p.Kill();
  uint64_t v = 1;
  const auto start = std::chrono::steady_clock::now();
  try {
    board->Write(0, &v, 8);
    FAIL() << "no error from a dead board";
  } catch (const BoardError& e) {
    EXPECT_THAT(e.what(), HasSubstr(p.prefix() + ".regs"));
    EXPECT_THAT(e.what(), AnyOf(HasSubstr("has stopped"), HasSubstr("is gone")));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(BoardProcessTest, SigtermExitsCleanlyRemovesTheFilesAndTheDriverSaysSo) {
  BoardProcess p("--mem 1MiB");
  auto board = OpenBoard(p.Field("spec"));
  EXPECT_EQ(p.Stop(SIGTERM), 0);
  for (const char* ext : {".regs", ".mem", ".dma"})
    EXPECT_FALSE(std::filesystem::exists(p.prefix() + ext)) << ext;
  EXPECT_EQ(board->Read32(regs::kIdOffset), 0xFFFFFFFFu);  // as a removed PCIe device reads
  uint64_t v = 1;
  try {
    board->Write(0, &v, 8);
    FAIL() << "no error from a stopped board";
  } catch (const BoardError& e) {
    EXPECT_THAT(e.what(), HasSubstr("is gone"));
  }
}

TEST(BoardProcessTest, AStoppedBoardIsRefusedAtOpen) {
  BoardProcess p("--mem 1MiB");
  const std::string spec = p.Field("spec");
  ASSERT_EQ(p.Stop(SIGINT), 0);
  try {
    OpenBoard(spec);
    FAIL();
  } catch (const BoardError& e) {
    EXPECT_THAT(e.what(), HasSubstr(p.prefix()));
  }
}

TEST(BenchBoardTest, WritesTheJsonKeys) {
  const std::string json = "/tmp/ll-bench-board-" + std::to_string(getpid()) + ".json";
  const std::string cmd = std::string(LIGHTLOOP_BIN) + " bench board --cycles 200000 --repeats 1 --json " +
                          json + " > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(json);
  std::stringstream text;
  text << in.rdbuf();
  for (const char* key :
       {"\"cycles_per_s\"", "\"baseline_cycles_per_s\"", "\"cycles_per_4k\"", "\"cycles_per_1m\""}) {
    EXPECT_THAT(text.str(), HasSubstr(key));
  }
  std::filesystem::remove(json);
}

}  // namespace
}  // namespace lightloop::rtl_bridge
