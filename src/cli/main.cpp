#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"

namespace {

/// Edits (insertions, deletions, substitutions, and swaps of two adjacent letters) that turn
/// `a` into `b`, no letter edited twice (the optimal string alignment distance): a mistyped
/// option's swapped letters (--modle for --model) count one edit, not two.
size_t edit_distance(const std::string& a, const std::string& b) {
  // rows[i][j]: the distance between a's first i letters and b's first j.
  std::vector<std::vector<size_t>> rows(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) rows[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) rows[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      rows[i][j] = std::min({rows[i - 1][j] + 1, rows[i][j - 1] + 1,
                             rows[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        rows[i][j] = std::min(rows[i][j], rows[i - 2][j - 2] + 1);
    }
  }
  return rows[a.size()][b.size()];
}

/// Of `known` (lower-case names), the name `given` most likely meant, case aside (--MODEL:
/// --model): one that begins the other (at least 3 letters: --temp and --temperature, serv and
/// serve), else one within a third of its letters by edit_distance; the fewest edits first
/// (synth-lor: synth-lora, not synth); "" when none is.
std::string closest_name(std::string given, const std::vector<std::string>& known) {
  std::transform(given.begin(), given.end(), given.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string best;
  std::pair<size_t, size_t> best_rank{given.size() / 3 + 1, 0};
  for (const std::string& name : known) {
    const bool begins = std::min(name.size(), given.size()) >= 3 &&
                        (name.starts_with(given) || given.starts_with(name));
    const size_t distance = edit_distance(given, name);
    const std::pair<size_t, size_t> rank{begins ? 0 : distance, distance};
    if (rank < best_rank) {
      best = name;
      best_rank = rank;
    }
  }
  return best;
}

/// The names from gengyun's down to `command`, a command parsed of `app` ("keys create"; "" for
/// gengyun's own options).
std::string command_path(const CLI::App& app, const CLI::App* command) {
  std::string path;
  for (const CLI::App* c = command; c != &app && c != nullptr; c = c->get_parent())
    path = c->get_name() + (path.empty() ? "" : " " + path);
  return path;
}

/// The message for a command line whose command got an argument starting with '-' that none
/// of its options takes (CLI11's ExtrasError, which lists the extras last first and names no
/// option: "were not expected: 0 --temperature"): that argument first, with the command's
/// option it most likely meant (one that begins the other, as --temp and --temperature, or
/// within a third of its letters by edit_distance), if any. "" when the extras hold no such
/// argument (CLI11's message serves then).
std::string unknown_option_message(const CLI::App& app) {
  const CLI::App* command = &app;
  while (command->remaining().empty() && !command->get_subcommands().empty())
    command = command->get_subcommands().front();
  const std::vector<std::string> extras = command->remaining();
  const auto flag = std::find_if(extras.begin(), extras.end(),
                                 [](const std::string& arg) { return arg.starts_with("-"); });
  if (flag == extras.end()) return "";
  const std::string given = flag->substr(0, flag->find('='));
  const std::string name = given.substr(given.find_first_not_of('-') == std::string::npos
                                            ? given.size()
                                            : given.find_first_not_of('-'));
  std::vector<std::string> names;
  for (const CLI::Option* option : command->get_options())
    for (const std::string& known : option->get_lnames()) names.push_back(known);
  const std::string closest = closest_name(name, names);
  const std::string best = closest.empty() ? "" : "--" + closest;
  const std::string path = command_path(app, command);
  // (No command: gengyun's own options, `gengyun --verison`.)
  return "error: " + (path.empty() ? "" : path + ": ") + "unknown option " + given +
         (best.empty() ? "" : " (did you mean " + best + "?)") + "; gengyun " +
         (path.empty() ? "" : path + " ") + "--help lists its options\n";
}

/// The message for an option of one value given more than once (CLI11's ArgumentMismatch says
/// only "--temp: At Most 1 required but received 2"): the option, how often it was given, and
/// that the command takes one. "" when no option of the command parsed was given too often.
std::string repeated_option_message(const CLI::App& app) {
  const CLI::App* command = &app;
  while (!command->get_subcommands().empty()) command = command->get_subcommands().front();
  const std::string path = command_path(app, command);
  for (const CLI::Option* option : command->get_options()) {
    if (option->count() > 1 && option->get_items_expected_max() == 1)
      return "error: " + path + ": " + option->get_name() + " is given " +
             std::to_string(option->count()) + " times; it takes one value\n";
  }
  return "";
}

}  // namespace

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
    std::vector<std::string> command_names;
    bool known = false;
    for (const CLI::App* command : commands) {
      known = known || command->check_name(argv[1]);
      names += (names.empty() ? "" : ", ") + command->get_name();
      command_names.push_back(command->get_name());
    }
    if (!known) {
      // (QA: `serv` and `sreve` got the list alone.)
      const std::string closest = closest_name(argv[1], command_names);
      std::fprintf(stderr, "error: unknown command '%s'%s (commands: %s; --help for more)\n",
                   argv[1], closest.empty() ? "" : (", did you mean " + closest + "?").c_str(),
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
    // An unknown option is named first: for CLI11's ExtrasError, for an option given twice
    // (QA: `-p a -p b --bogus` named --prompt alone), and for a missing argument or one
    // excluding another, often what an unknown option took the place of (`run --temperature
    // 1 m`: m is no prompt, QA: only "--prompt is required"; `render-chat --template t --convo
    // c`: c is taken as the model, "model excludes --template").
    if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr ||
        dynamic_cast<const CLI::RequiredError*>(&e) != nullptr ||
        dynamic_cast<const CLI::ExcludesError*>(&e) != nullptr ||
        dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
      if (const std::string message = unknown_option_message(app); !message.empty()) {
        std::fputs(message.c_str(), stderr);
        return 2;
      }
    }
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
      if (const std::string message = repeated_option_message(app); !message.empty()) {
        std::fputs(message.c_str(), stderr);
        return 2;
      }
    }
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}
