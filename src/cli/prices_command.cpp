// `gengyun prices set MODEL --db PATH --input X --output Y [--cached-input Z]` (USD per
// million tokens).
#include <cstdio>
#include <memory>
#include <string>

#include "cli/admin_flags.h"
#include "cli/commands.h"
#include "platform/money.h"
#include "platform/store.h"
#include "platform/store_rules.h"

namespace gengyun::cli {
namespace {

struct PriceFlags {
  std::string model;
  std::string input;
  std::string cached_input;
  std::string output;
};

/// The prices the flags give; --cached-input defaults to --input (no discount). Errors: a model
/// name platform::validate_model_name() refuses, an amount parse_usd() refuses, prices
/// platform::validate_price() refuses; all checked before the database is opened, so that
/// refused input creates no file.
Result<platform::Price> price_of(const PriceFlags& flags) {
  if (auto valid = platform::validate_model_name(flags.model); !valid)
    return make_error("cannot set a price: " + valid.error().message);
  auto input = platform::parse_usd(flags.input, "--input");
  if (!input) return input.error();
  auto output = platform::parse_usd(flags.output, "--output");
  if (!output) return output.error();
  int64_t cached = *input;
  if (!flags.cached_input.empty()) {
    auto parsed = platform::parse_usd(flags.cached_input, "--cached-input");
    if (!parsed) return parsed.error();
    cached = *parsed;
  }
  const platform::Price price{*input, cached, *output};
  if (auto valid = platform::validate_price(price); !valid)
    return make_error("cannot set the price of model '" + flags.model +
                      "': " + valid.error().message);
  return price;
}

int set(const std::string& db, const PriceFlags& flags) {
  auto price = price_of(flags);
  if (!price.ok()) {
    std::fprintf(stderr, "error: %s\n", price.error().message.c_str());
    return 1;
  }
  auto store = open_store(db);
  if (!store) return 1;
  if (auto r = store->set_price(flags.model, price.value(), cli_actor()); !r.ok()) {
    std::fprintf(stderr, "error: %s\n", r.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "model '%s': USD %s input, %s cached input, %s output per 1M tokens\n",
               flags.model.c_str(), platform::format_usd(price->input).c_str(),
               platform::format_usd(price->cached_input).c_str(),
               platform::format_usd(price->output).c_str());
  return 0;
}

}  // namespace

void add_prices_command(CLI::App& app, int& exit_code) {
  auto db = std::make_shared<std::string>("gengyun.db");
  auto flags = std::make_shared<PriceFlags>();
  auto* prices = app.add_subcommand("prices", "set the prices of models");
  prices->require_subcommand(1);
  auto* set_cmd = prices->add_subcommand("set", "set a model's prices in USD per 1M tokens");
  set_cmd
      ->add_option("model", flags->model,
                   "the model's id (a price on an alias is never used: an alias is billed "
                   "as its model; not checked here, the command reads no model registry)")
      ->required();
  set_cmd->add_option("--db", *db, kDbCreatedHelp)->capture_default_str();
  set_cmd->add_option("--input", flags->input, "USD per 1M prompt tokens")->required();
  set_cmd->add_option("--output", flags->output, "USD per 1M generated tokens")->required();
  set_cmd->add_option("--cached-input", flags->cached_input,
                      "USD per 1M prompt tokens found in the prefix cache (default: --input)");
  set_cmd->callback([db, flags, &exit_code] { exit_code = set(*db, *flags); });
}

}  // namespace gengyun::cli
