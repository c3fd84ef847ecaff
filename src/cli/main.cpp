#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  // Log lines (warnings of a load, the server's access log) go to stderr with the commands'
  // other messages: stdout is the output (run's text, keys create's key, usage's table).
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
  CLI::App app{"gengyun: run GGUF models and serve them behind an OpenAI-compatible API"};
  app.require_subcommand(1);
  // GENGYUN_VERSION: the project's version in CMakeLists.txt.
  app.set_version_flag("--version", std::string("gengyun ") + GENGYUN_VERSION,
                       "print the version and exit");
  int exit_code = 0;
  gengyun::cli::add_run_command(app, exit_code);
  gengyun::cli::add_tokenize_command(app, exit_code);
  gengyun::cli::add_embed_command(app, exit_code);
  gengyun::cli::add_serve_command(app, exit_code);
  gengyun::cli::add_keys_command(app, exit_code);
  gengyun::cli::add_usage_command(app, exit_code);
  gengyun::cli::add_tenants_command(app, exit_code);
  gengyun::cli::add_prices_command(app, exit_code);
  gengyun::cli::add_spool_command(app, exit_code);
  gengyun::cli::add_migrate_command(app, exit_code);
  gengyun::cli::add_quantize_command(app, exit_code);
  gengyun::cli::add_synth_command(app, exit_code);
  gengyun::cli::add_synth_lora_command(app, exit_code);
  gengyun::cli::add_bench_command(app, exit_code);
  gengyun::cli::add_render_chat_command(app, exit_code);
  gengyun::cli::add_pull_command(app, exit_code);
  // An unknown command is named (CLI11 says only "A subcommand is required"), exit 2.
  if (argc > 1 && argv[1][0] != '-') {
    const std::vector<const CLI::App*> commands =
        std::as_const(app).get_subcommands([](const CLI::App*) { return true; });
    std::string names;
    bool known = false;
    for (const CLI::App* command : commands) {
      known = known || command->check_name(argv[1]);
      names += (names.empty() ? "" : ", ") + command->get_name();
    }
    if (!known) {
      std::fprintf(stderr, "error: unknown command '%s' (commands: %s; --help for more)\n", argv[1],
                   names.c_str());
      return 2;
    }
  }
  // A command line CLI11 cannot parse (an unknown flag or subcommand, a missing value, a value
  // outside a flag's declared range) exits 2, with CLI11's message on stderr; --help exits 0; a
  // command's own failure (a value it refuses itself included) exits 1.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}
