// Subcommands of the `gengyun` command line. Each add_* registers one subcommand on the app;
// its callback stores the process exit code in `exit_code` (0 success, 1 failure, with the
// reason on stderr).
#pragma once

#include <CLI/CLI.hpp>

namespace gengyun::cli {

void add_run_command(CLI::App& app, int& exit_code);
void add_tokenize_command(CLI::App& app, int& exit_code);
void add_embed_command(CLI::App& app, int& exit_code);
void add_serve_command(CLI::App& app, int& exit_code);
void add_keys_command(CLI::App& app, int& exit_code);
void add_usage_command(CLI::App& app, int& exit_code);
void add_tenants_command(CLI::App& app, int& exit_code);
void add_prices_command(CLI::App& app, int& exit_code);
void add_spool_command(CLI::App& app, int& exit_code);
void add_migrate_command(CLI::App& app, int& exit_code);
void add_quantize_command(CLI::App& app, int& exit_code);
void add_synth_command(CLI::App& app, int& exit_code);
void add_synth_lora_command(CLI::App& app, int& exit_code);
void add_bench_command(CLI::App& app, int& exit_code);
void add_render_chat_command(CLI::App& app, int& exit_code);
void add_pull_command(CLI::App& app, int& exit_code);

}  // namespace gengyun::cli
