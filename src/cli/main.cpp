#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <new>
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

/// Whether `given` abbreviates `name`: its first three letters (all, when shorter) begin
/// `name`, and its other letters come in `name` in that order (--n-pred: --n-predict, --convo:
/// --conversation, --mm: --mmap).
bool abbreviates(const std::string& given, const std::string& name) {
  const size_t prefix = std::min<size_t>(3, given.size());
  if (given.empty() || !name.starts_with(given.substr(0, prefix))) return false;
  size_t at = prefix;
  for (size_t i = prefix; i < given.size(); ++i) {
    at = name.find(given[i], at);
    if (at == std::string::npos) return false;
    ++at;
  }
  return true;
}

/// Of `known` (lower-case names), the names `given` most likely meant, case aside: the one it
/// is (--MODEL: --model, not --models too); else all those it abbreviates (abbreviates(); --top:
/// --top-k and --top-p), by one or two letters only when `short_abbreviations` (-m is more
/// likely another program's short option than an abbreviation of --mmap); else one that begins
/// `given` (at least 3 letters: --temperature, --temp), else one within a third of its letters
/// by edit_distance, the fewest edits first. Empty when none is.
std::vector<std::string> closest_names(std::string given, const std::vector<std::string>& known,
                                       bool short_abbreviations) {
  std::transform(given.begin(), given.end(), given.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (std::find(known.begin(), known.end(), given) != known.end()) return {given};
  std::vector<std::string> abbreviated;
  if (short_abbreviations || given.size() >= 3)
    for (const std::string& name : known)
      if (abbreviates(given, name)) abbreviated.push_back(name);
  if (!abbreviated.empty()) return abbreviated;
  std::string best;
  std::pair<size_t, size_t> best_rank{given.size() / 3 + 1, 0};
  for (const std::string& name : known) {
    const bool begins = name.size() >= 3 && given.starts_with(name);
    const size_t distance = edit_distance(given, name);
    const std::pair<size_t, size_t> rank{begins ? 0 : distance, distance};
    if (rank < best_rank) {
      best = name;
      best_rank = rank;
    }
  }
  if (best.empty()) return {};
  return {best};
}

/// `names`, each after `dash`, as a list: "--top-k or --top-p", "a, b or c".
std::string listed(const std::vector<std::string>& names, const std::string& dash) {
  std::string text;
  for (size_t i = 0; i < names.size(); ++i)
    text += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + dash + names[i];
  return text;
}

/// The names from gengyun's down to `command`, a command parsed of `app` ("keys create"; "" for
/// gengyun's own options).
std::string command_path(const CLI::App& app, const CLI::App* command) {
  std::string path;
  for (const CLI::App* c = command; c != &app && c != nullptr; c = c->get_parent())
    path = c->get_name() + (path.empty() ? "" : " " + path);
  return path;
}

/// A refused command line of the command `path` ("" for gengyun itself) in gengyun's words:
/// "error: PATH: REASON; gengyun PATH --help lists HINT" and a newline; `hint` "its options",
/// or "them" where the reason lists a command's commands.
std::string refusal(const std::string& path, const std::string& reason,
                    const char* hint = "its options") {
  return "error: " + (path.empty() ? "" : path + ": ") + reason + "; gengyun " +
         (path.empty() ? "" : path + " ") + "--help lists " + hint + "\n";
}

/// The message for a command line whose command got an argument starting with '-' that none
/// of its options takes (CLI11's ExtrasError, which lists the extras last first and names no
/// option: "were not expected: 0 --temperature"): that argument first, with the command's
/// options it most likely meant (closest_names: those it abbreviates, as --n-pred --n-predict,
/// else the one it begins, as --temperature --temp, else one within a third of its letters by
/// edit_distance), if any. "" when the extras hold no such argument (CLI11's message serves
/// then).
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
  // One dash (-m): a short option, perhaps another program's, rather than an abbreviation.
  const std::vector<std::string> closest =
      closest_names(name, names, /*short_abbreviations=*/given.starts_with("--"));
  const std::string path = command_path(app, command);
  // (No command: gengyun's own options, `gengyun --verison`.)
  return refusal(path,
                 "unknown option " + given +
                     (closest.empty() ? "" : " (did you mean " + listed(closest, "--") + "?)"));
}

/// The command of `app` that the command line names last (`app` itself when it names none).
const CLI::App* parsed_command(const CLI::App& app) {
  const CLI::App* command = &app;
  while (!command->get_subcommands().empty()) command = command->get_subcommands().front();
  return command;
}

/// The option name that the argument `arg` begins with ("--temp" of "--temp=1", "-n" of "-n5");
/// "" when it is no option ("m.gguf", "-1", "--").
std::string option_part(const std::string& arg) {
  if (arg.starts_with("--")) return arg.size() > 2 ? arg.substr(0, arg.find('=')) : "";
  const bool short_name = arg.size() >= 2 && arg[0] == '-' &&
                          !std::isdigit(static_cast<unsigned char>(arg[1])) && arg[1] != '.';
  return short_name ? arg.substr(0, 2) : "";
}

/// `option` as the command line `args` names it first ("-n"), followed by its own name when that
/// differs ("-n (--n-predict)"), so that a message names what the user typed; its own name when
/// no argument names it.
std::string typed_name(const CLI::Option& option, const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    const std::string name = option_part(arg);
    if (!name.empty() && option.check_name(name))
      return name == option.get_name() ? name : name + " (" + option.get_name() + ")";
  }
  return option.get_name();
}

/// The message for an option that takes a value given last or just before another option
/// (CLI11's ArgumentMismatch: "--temp: 1 required FLOAT:[0, 2] missing"): "error: run: --temp
/// expects a value; gengyun run --help lists its options", the option as typed (typed_name).
/// "" when no option of the command parsed lacks its value so.
std::string missing_value_message(const CLI::App& app, const std::vector<std::string>& args) {
  const CLI::App* command = parsed_command(app);
  const std::string path = command_path(app, command);
  for (size_t i = 0; i < args.size(); ++i) {
    // An option with its value attached (--temp=1, -n5) lacks none, unless it is empty (--temp=).
    const std::string name = option_part(args[i]);
    const bool empty_attached = name.starts_with("--") && args[i] == name + "=";
    if (name != args[i] && !empty_attached) continue;
    const auto options = command->get_options([&](const CLI::Option* option) {
      return option->get_type_size_min() >= 1 && option->check_name(name);
    });
    if (options.empty()) continue;
    if (empty_attached || i + 1 == args.size() || !option_part(args[i + 1]).empty())
      return refusal(path, typed_name(*options.front(), args) + " expects a value");
  }
  return "";
}

/// The message for an option of one value given more than once (CLI11's ArgumentMismatch says
/// only "--temp: At Most 1 required but received 2"): the option as typed (typed_name), how
/// often it was given, and that the command takes one. "" when no option of the command parsed
/// was given too often.
std::string repeated_option_message(const CLI::App& app, const std::vector<std::string>& args) {
  const CLI::App* command = parsed_command(app);
  const std::string path = command_path(app, command);
  for (const CLI::Option* option : command->get_options()) {
    if (option->count() > 1 && option->get_items_expected_max() == 1)
      return "error: " + path + ": " + typed_name(*option, args) + " is given " +
             std::to_string(option->count()) + " times; it takes one value\n";
  }
  return "";
}

/// The message for a required option or argument that the command line lacks (CLI11's
/// RequiredError: "--prompt is required" and its --help hint): "error: run: --prompt is
/// required; gengyun run --help lists its options", an argument with what it is ("model is
/// required (GGUF model file)"); a command of commands without one, its commands ("error: keys:
/// a command is required: create, list, ...; gengyun keys --help lists them"), gengyun itself
/// too ("error: a command is required: run, tokenize, ...; gengyun --help lists them"). "" when
/// the command lacks none (CLI11's message serves then).
std::string required_message(const CLI::App& app) {
  const CLI::App* command = parsed_command(app);
  const std::string path = command_path(app, command);
  const std::vector<const CLI::App*> commands =
      command->get_subcommands([](const CLI::App*) { return true; });
  if (!commands.empty()) {
    std::vector<std::string> names;
    for (const CLI::App* c : commands) names.push_back(c->get_name());
    // A word where the command goes is a command mistyped (QA: `keys revok` was told a command
    // is required), named with the commands it most likely meant.
    const std::vector<std::string> given = command->remaining();
    if (!given.empty() && !given.front().starts_with("-")) {
      const std::vector<std::string> closest =
          closest_names(given.front(), names, /*short_abbreviations=*/true);
      return refusal(path,
                     "unknown command '" + given.front() + "'" +
                         (closest.empty() ? "" : " (did you mean " + listed(closest, "") + "?)") +
                         "; commands: " + listed(names, ""),
                     "them");
    }
    return refusal(path, "a command is required: " + listed(names, ""), "them");
  }
  for (const CLI::Option* option : command->get_options()) {
    if (!option->get_required() || option->count() > 0) continue;
    const std::string what = option->nonpositional() || option->get_description().empty()
                                 ? ""
                                 : " (" + option->get_description() + ")";
    return refusal(path, option->get_name() + " is required" + what);
  }
  return "";
}

/// The message for a value that CLI11 could not convert to its option's type, an option
/// without a validator of its own (CLI11's ConversionError: "Could not convert: --layers =
/// abc", no "error:" and no range): "error: synth: --layers: abc is not an integer within the
/// flag's range; gengyun synth --help lists its options", as integer_in() words it where the
/// range is declared, the option as typed (typed_name). ""
/// when no option of the command parsed failed so.
std::string conversion_message(const CLI::App& app, const std::vector<std::string>& args,
                               const CLI::ConversionError& e) {
  const CLI::App* command = parsed_command(app);
  const std::string what = e.what();
  for (const CLI::Option* option : command->get_options()) {
    const std::string prefix = "Could not convert: " + option->get_name() + " = ";
    if (!what.starts_with(prefix)) continue;
    const std::string type = option->get_type_name();
    const bool integer = type.find("INT") != std::string::npos;
    return refusal(command_path(app, command),
                   typed_name(*option, args) + ": " + what.substr(prefix.size()) + " is not " +
                       (integer ? "an integer" : "a number") + " within the flag's range");
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
      const std::vector<std::string> closest =
          closest_names(argv[1], command_names, /*short_abbreviations=*/true);
      std::fprintf(stderr, "error: unknown command '%s'%s (commands: %s; --help for more)\n",
                   argv[1],
                   closest.empty() ? "" : (", did you mean " + listed(closest, "") + "?").c_str(),
                   names.c_str());
      return 2;
    }
  }
  // A command line CLI11 cannot parse (an unknown flag or subcommand, a missing value, a value
  // outside a flag's declared range) exits 2, with the reason on stderr (in gengyun's words
  // where the messages below have them, else CLI11's); --help exits 0; a command's own failure
  // (a value it refuses itself included) exits 1.
  const std::vector<std::string> args(argv + 1, argv + argc);
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
    // A value missing before a repeat: `--temp 0 --temp` lacks a value more than it repeats.
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
      for (const std::string& message :
           {missing_value_message(app, args), repeated_option_message(app, args)}) {
        if (!message.empty()) {
          std::fputs(message.c_str(), stderr);
          return 2;
        }
      }
    }
    // (A flag whose range is declared, integer_in(), has its message from the validator, which
    // CLI11 runs before converting; this is for the flags that declare none.)
    if (const auto* conversion = dynamic_cast<const CLI::ConversionError*>(&e)) {
      if (const std::string message = conversion_message(app, args, *conversion);
          !message.empty()) {
        std::fputs(message.c_str(), stderr);
        return 2;
      }
    }
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
      if (const std::string message = required_message(app); !message.empty()) {
        std::fputs(message.c_str(), stderr);
        return 2;
      }
    }
    // Any other refusal (a validator's, an extra argument, excluded options) in gengyun's words
    // too: "error: COMMAND: REASON; gengyun COMMAND --help lists its options" (QA: CLI11's
    // "Run with --help for more information." under its message). --help and --version (exit
    // code 0) print what they print.
    if (e.get_exit_code() != 0) {
      std::fputs(refusal(command_path(app, parsed_command(app)), e.what()).c_str(), stderr);
      return 2;
    }
    return app.exit(e);
  } catch (const std::bad_alloc&) {
    // A last resort, so that a command ends with a message and exit 1 rather than abort()
    // (exit 134): big inputs are bounded where they are read (read_file's kinds), and a command
    // refuses what would need too much memory with its own reason before allocating it. An
    // allocation that fails all the same (a memory limit lower than the machine's) gets here,
    // where nothing of the command is left to clean up but what the unwinding freed.
    std::fprintf(stderr, "error: out of memory: %s needed more memory than it could allocate\n",
                 command_path(app, parsed_command(app)).c_str());
    return 1;
  }
  return exit_code;
}
