// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/cli.h"

#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "lightloop/rtl_bridge/tlm/rtl_link.h"
#include "lightloop/runtime/size.h"

namespace lightloop::testbench {

runtime::StatusOr<uint64_t> ParseSizeFlag(const std::string& flag, const std::string& text) {
  auto size = runtime::ParseSize(text);
  if (!size.ok()) return size.status().WithContext(flag);
  return size;
}

runtime::Status WriteFileAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.good()) return runtime::Unavailable("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return runtime::Unavailable("cannot write " + path);
  return runtime::Status::Ok();
}

runtime::Status WriteJsonIfAsked(const std::string& path, const nlohmann::json& json) {
  if (path.empty()) return runtime::Status::Ok();
  LL_RETURN_IF_ERROR(WriteFileAtomically(path, json.dump(2) + "\n"));
  std::cout << "wrote " << path << std::endl;
  return runtime::Status::Ok();
}

int RunCli(int argc, char** argv) {
  CLI::App app{"lightloop: hardware-in-the-loop testbed for optical-interconnect prototypes"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("lightloop ") + LIGHTLOOP_VERSION);
  rtl_bridge::RegisterRtlLink();  // `impl: rtl` links in every node file
  CommandFn run;
  AddMemnodeCommand(app, run);
  AddBenchCommand(app, run);
  AddInfoCommand(app, run);
  AddModelCommand(app, run);
  AddRunCommand(app, run);
  AddBoardCommand(app, run);
  AddSweepCommand(app, run);
  AddSuiteCommand(app, run);
  AddServeCommand(app, run);
  AddRemoteCommand(app, run);
  AddFabricdCommand(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help and --version are not errors
  }
  runtime::Status status = run ? run() : runtime::InvalidArgument("no command");
  if (!status.ok()) {
    std::cerr << "lightloop " << app.get_subcommands().front()->get_name() << ": error: " << status.ToString()
              << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace lightloop::testbench
