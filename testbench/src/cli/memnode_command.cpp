// SPDX-License-Identifier: Apache-2.0
// `lightloop memnode`: serve a pool until SIGINT or SIGTERM.
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "lightloop/runtime/memnode.h"

namespace lightloop::testbench {
namespace {

struct MemnodeArgs {
  std::string provider;
  std::string listen = "127.0.0.1:7400";
  std::string capacity = "1GiB";
  int idle_poll_us = 50;
  size_t endpoints = 0;
  size_t progress_threads = 0;
};

runtime::Status RunMemnode(const MemnodeArgs& args) {
  runtime::MemnodeOptions options{.provider = args.provider, .listen = args.listen};
  options.idle_poll = std::chrono::microseconds(args.idle_poll_us);
  options.endpoints = args.endpoints;
  options.progress_threads = args.progress_threads;
  LL_ASSIGN_OR_RETURN(options.capacity, ParseSizeFlag("--capacity", args.capacity));
  // A memnode process serves other processes: on a simulated fabric (the
  // lightloop provider; other providers ignore it) that is the shared one,
  // run by the fabric daemon, unless the environment says otherwise.
  setenv("FI_LIGHTLOOP_FABRIC", "shared", /*overwrite=*/0);
  // Signals are taken by sigwait below, never by a handler in some gRPC thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  LL_ASSIGN_OR_RETURN(auto node, runtime::Memnode::Start(options));
  std::cout << node->ReadyLine() << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "memnode: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", shutting down" << std::endl;
  if (runtime::Status s = node->Shutdown(); !s.ok()) {
    std::cerr << "lightloop memnode: error: " << s.ToString() << std::endl;
    std::_Exit(1);  // the provider's objects are in use by a stuck thread: no cleanup
  }
  std::cout << "memnode stopped" << std::endl;
  return runtime::Status::Ok();
}

}  // namespace

void AddMemnodeCommand(CLI::App& app, CommandFn& run) {
  auto args = std::make_shared<MemnodeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "memnode", "Own a pool of memory and serve it over libfabric RMA, with a gRPC control plane");
  cmd->add_option("--provider", args->provider,
                  "libfabric provider for the data plane (tcp, shm, verbs, ...); default: FI_PROVIDER "
                  "or libfabric's first choice");
  cmd->add_option("--listen", args->listen, "control-plane HOST:PORT (port 0 picks a free one)")
      ->capture_default_str();
  cmd->add_option("--capacity", args->capacity, "pool size, e.g. 512MiB, 2GiB")->capture_default_str();
  cmd->add_option("--endpoints", args->endpoints,
                  "data-plane endpoints; clients stripe across them (0: 2; on shm up to 8 as /dev/shm allows)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  cmd->add_option("--progress-threads", args->progress_threads,
                  "threads driving the endpoints' progress, each serving every n-th endpoint (0: one per "
                  "endpoint where the provider can block (tcp); polled (shm): one per four cores)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  cmd->add_option("--idle-poll-us", args->idle_poll_us,
                  "providers without a wait object (shm) are polled; idle, nap this long between "
                  "polls (0: spin)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->callback([args, &run] { run = [args] { return RunMemnode(*args); }; });
}

}  // namespace lightloop::testbench
