// SPDX-License-Identifier: Apache-2.0
// `lightloop serve`: the lab service until SIGINT or SIGTERM.
#include <signal.h>

#include <climits>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "lab/lab_server.h"

namespace lightloop::testbench {
namespace {

struct ServeArgs {
  std::string listen = "127.0.0.1:7500";
  std::string token_file;
  std::string dir = "lightloop-lab";
  int max_concurrent = 1;
  double cancel_grace_s = 10;
  std::string max_message = "4MiB";
};

runtime::Status RunServe(const ServeArgs& a) {
  lab::ServeOptions o{.listen = a.listen, .dir = a.dir, .max_concurrent = a.max_concurrent};
  LL_ASSIGN_OR_RETURN(o.token, lab::ReadToken(a.token_file));
  LL_ASSIGN_OR_RETURN(o.max_message_bytes, ParseSizeFlag("--max-message", a.max_message));
  if (o.max_message_bytes == 0 || o.max_message_bytes > INT_MAX) {
    return runtime::InvalidArgument("--max-message: between 1 byte and 2 GiB");
  }
  o.cancel_grace = std::chrono::milliseconds(static_cast<int64_t>(a.cancel_grace_s * 1000));
  // Blocked before any thread starts, so every thread inherits it and the
  // signals are taken by sigwait below, never by some gRPC thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  LL_ASSIGN_OR_RETURN(auto server, lab::LabServer::Start(o));
  std::cout << "serve ready listen=" << server->address()
            << " dir=" << std::filesystem::absolute(a.dir).string() << " max_concurrent=" << a.max_concurrent
            << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cout << "serve: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", cancelling jobs and shutting down"
            << std::endl;
  server->Shutdown();
  std::cout << "serve stopped" << std::endl;
  return runtime::Status::Ok();
}

}  // namespace

void AddServeCommand(CLI::App& app, CommandFn& run) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Run scenarios and suites for remote clients (`lightloop remote`): the gRPC lab service");
  cmd->add_option("--listen", a->listen, "HOST:PORT to serve on (port 0 picks a free one)")
      ->capture_default_str();
  cmd->add_option("--token-file", a->token_file,
                  "file holding the token every call must carry (else LIGHTLOOP_TOKEN)");
  cmd->add_option("--dir", a->dir, "folder for the job folders")->capture_default_str();
  cmd->add_option("--max-concurrent", a->max_concurrent, "jobs running at once; the rest wait in a queue")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--cancel-grace", a->cancel_grace_s,
                  "seconds a cancelled job has to finish its report after SIGINT before SIGKILL")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--max-message", a->max_message, "largest request accepted, e.g. 4MiB")
      ->capture_default_str();
  cmd->callback([a, &run] { run = [a] { return RunServe(*a); }; });
}

}  // namespace lightloop::testbench
