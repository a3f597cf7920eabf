// SPDX-License-Identifier: Apache-2.0
// `lightloop fabricd`: the fabric daemon that lets several processes share
// one simulated fabric (the provider also starts it on demand).
#include <cstdlib>
#include <memory>

#include "cli/commands.h"
#include "lightloop/runtime/fabricd.h"

namespace lightloop::testbench {

void AddFabricdCommand(CLI::App& app, CommandFn& run) {
  auto o = std::make_shared<runtime::FabricdOptions>();
  o->config_path = LIGHTLOOP_DEFAULT_NODE_CONFIG;
  CLI::App* cmd =
      app.add_subcommand("fabricd",
                         "Run the simulated fabric that several processes on the lightloop provider share "
                         "(FI_LIGHTLOOP_FABRIC=shared); the provider starts one on demand");
  cmd->add_option("--socket", o->socket_path,
                  "UNIX socket to serve (what FI_LIGHTLOOP_FABRICD_SOCKET names); default: " +
                      runtime::DefaultFabricdSocket());
  cmd->add_option("--config", o->config_path, "hw_models node file the fabric is built from")
      ->capture_default_str();
  cmd->add_option("--time", o->time,
                  "virtual (deterministic; moves as processes wait and compute) or paced (the wall "
                  "clock slowed by --dilation)")
      ->capture_default_str()
      ->check(CLI::IsMember({"virtual", "paced"}));
  cmd->add_option("--timing", o->timing,
                  "tlm (the node's SystemC TLM-2.0 modules time every transfer) or closed_form (the "
                  "models' closed forms, each endpoint on a link of its own)")
      ->capture_default_str()
      ->check(CLI::IsMember({"tlm", "closed_form"}));
  cmd->add_option("--dilation", o->dilation, "paced time: wall seconds per simulated second")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](const std::string& v) -> std::string {
            char* end = nullptr;
            double d = std::strtod(v.c_str(), &end);
            return end != v.c_str() && *end == '\0' && d > 0 ? "" : "'" + v + "' is not a positive number";
          },
          "POSITIVE"));
  cmd->add_option("--expect", o->expect,
                  "virtual time: hold the fabric at time 0 until this many processes have joined (what "
                  "FI_LIGHTLOOP_PROCS asks for; 0: start with the first)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--expect-timeout", o->expect_timeout_s,
                  "with --expect: seconds after the first process joined by which all must have; else the "
                  "daemon tells those that did why, and stops")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--idle-exit", o->idle_exit_s,
                  "exit once no process has been connected for this many seconds (0: never)")
      ->capture_default_str();
  cmd->add_flag("--daemonize", o->daemonize, "fork into the background once listening");
  cmd->callback([o, &run] {
    run = [o]() -> runtime::Status {
      int rc = runtime::RunFabricd(*o);
      return rc == 0 ? runtime::Status::Ok()
                     : runtime::Unavailable("the fabric daemon stopped with an error");
    };
  });
}

}  // namespace lightloop::testbench
