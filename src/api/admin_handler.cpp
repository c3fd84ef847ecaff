#include "api/admin_handler.h"

#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/admin_auth.h"
#include "api/http_reply.h"
#include "api/openai_request.h"
#include "api/query_parameters.h"
#include "api/store_errors.h"
#include "platform/store_rules.h"

namespace gengyun::api {
namespace {

using nlohmann::json;

constexpr int64_t kUsPerS = 1'000'000;
constexpr int64_t kDayUs = 86'400 * kUsPerS;
/// The largest rpm or tpm accepted: far above any real limit, far below int64 overflow in the
/// rate windows' sums.
constexpr int64_t kMaxRate = 1'000'000'000'000;
/// The rows of a list page when the request gives no `limit`, and the most it may ask for
/// (OpenAI's list endpoints: 20 and 100).
constexpr int64_t kDefaultPageLimit = 20;
constexpr int64_t kMaxPageLimit = 100;

enum class Collection { Tenants, Keys, Prices, Audit };

/// A parsed admin path: the collection and, for /admin/tenants/ID and /admin/keys/ID, the id.
struct AdminPath {
  Collection collection;
  std::optional<int64_t> id;
};

/// `text` as a whole number of decimal digits from 0 to INT64_MAX; nullopt otherwise.
std::optional<int64_t> parse_decimal(std::string_view text) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (text.empty()) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || value > (kMax - (c - '0')) / 10) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

std::optional<AdminPath> parse_admin_path(std::string_view path) {
  struct Known {
    std::string_view prefix;
    Collection collection;
    bool has_items;
  };
  constexpr Known kKnown[] = {{"/admin/tenants", Collection::Tenants, true},
                              {"/admin/keys", Collection::Keys, true},
                              {"/admin/prices", Collection::Prices, false},
                              {"/admin/audit", Collection::Audit, false}};
  for (const Known& known : kKnown) {
    if (path == known.prefix) return AdminPath{known.collection, std::nullopt};
    if (!known.has_items || path.substr(0, known.prefix.size()) != known.prefix ||
        path.size() <= known.prefix.size() + 1 || path[known.prefix.size()] != '/')
      continue;
    const auto id = parse_decimal(path.substr(known.prefix.size() + 1));
    if (!id) return std::nullopt;
    return AdminPath{known.collection, *id};
  }
  return std::nullopt;
}

std::optional<int64_t> seconds(const std::optional<int64_t>& us) {
  if (!us) return std::nullopt;
  return *us / kUsPerS;
}

json optional_json(const std::optional<int64_t>& value) {
  return value ? json(*value) : json(nullptr);
}

void put_limits(json& object, const platform::Limits& limits) {
  object["budget_usd"] =
      limits.budget_micro_usd ? json(platform::format_usd(*limits.budget_micro_usd)) : json();
  object["budget_period"] = platform::period_name(limits.budget_period);
  object["rpm"] = optional_json(limits.rpm);
  object["tpm"] = optional_json(limits.tpm);
}

json tenant_json(const platform::TenantInfo& tenant) {
  json object = {{"object", "tenant"},
                 {"id", tenant.id},
                 {"name", tenant.name},
                 {"created_at", tenant.created_at_us / kUsPerS}};
  put_limits(object, tenant.limits);
  return object;
}

json key_json(const platform::KeyInfo& key) {
  json object = {{"object", "api_key"},
                 {"id", key.id},
                 {"name", key.name},
                 {"prefix", key.prefix},
                 {"tenant_id", key.tenant_id},
                 {"role", platform::role_name(key.role)},
                 {"created_at", key.created_at_us / kUsPerS},
                 {"revoked_at", optional_json(seconds(key.revoked_at_us))},
                 {"expires_at", optional_json(seconds(key.expires_at_us))},
                 {"models", key.models}};
  put_limits(object, key.limits);
  return object;
}

json price_json(const std::string& model, const platform::Price& price) {
  return {{"object", "price"},
          {"model", model},
          {"input", platform::format_usd(price.input)},
          {"cached_input", platform::format_usd(price.cached_input)},
          {"output", platform::format_usd(price.output)}};
}

/// One page of a list as OpenAI's list endpoints answer it: the objects (each with the field
/// `id_field`, their cursor: "id", or "model" for prices), the cursors of the first and last of
/// them as first_id and last_id (null when there are none) and whether more follow.
json page_json(json data, bool has_more, const char* id_field = "id") {
  json first = data.empty() ? json() : data.front()[id_field];
  json last = data.empty() ? json() : data.back()[id_field];
  return {{"object", "list"},
          {"data", std::move(data)},
          {"first_id", std::move(first)},
          {"last_id", std::move(last)},
          {"has_more", has_more}};
}

/// The `limit` of a list's query `values`: 1 to kMaxPageLimit, kDefaultPageLimit when absent.
/// Errors (400 naming it): a limit out of range or not a whole number.
ApiResult<int64_t> read_limit(const std::map<std::string, std::string>& values) {
  auto it = values.find("limit");
  if (it == values.end()) return kDefaultPageLimit;
  const auto limit = parse_decimal(it->second);
  if (!limit || *limit < 1 || *limit > kMaxPageLimit)
    return invalid_request("limit must be a whole number from 1 to " +
                               std::to_string(kMaxPageLimit) + ", got '" + it->second + "'",
                           "limit");
  return *limit;
}

/// The page a list's request-target asks for: `limit` (1 to kMaxPageLimit, default
/// kDefaultPageLimit) objects with an id above `after` (default 0: from the first). `after` is a
/// position in id order, not a lookup: an id that names nothing the caller may see (another
/// tenant's, none at all) pages on from where it would be. Errors (400 naming the parameter): a
/// limit out of range or not a whole number, an after that is not a whole number from 0 to
/// INT64_MAX, and those of query_parameters() (unknown or repeated parameters, malformed
/// percent-encoding).
ApiResult<platform::Page> parse_page(std::string_view target) {
  auto values = query_parameters(target, {"limit", "after"});
  if (!values.ok()) return values.error();
  platform::Page page{0, kDefaultPageLimit};
  auto limit = read_limit(*values);
  if (!limit.ok()) return limit.error();
  page.limit = *limit;
  if (auto it = values->find("after"); it != values->end()) {
    const auto after = parse_decimal(it->second);
    if (!after)
      return invalid_request(
          "after must be the id of an object of the list (a whole number from 0 to " +
              std::to_string(std::numeric_limits<int64_t>::max()) + "), got '" + it->second + "'",
          "after");
    page.after_id = *after;
  }
  return page;
}

/// The page of prices GET /admin/prices' request-target asks for: `limit` as parse_page()
/// reads it, the models after the model name `after` in byte order (default: from the first).
/// `after` is a position, not a lookup: a model without a price pages on from where it would
/// be. Errors (400 naming the parameter): those of parse_page() for `limit` and the query, an
/// after that validate_model_name() refuses (empty, too long, outside the names' characters).
ApiResult<platform::PricePage> parse_price_page(std::string_view target) {
  auto values = query_parameters(target, {"limit", "after"});
  if (!values.ok()) return values.error();
  auto limit = read_limit(*values);
  if (!limit.ok()) return limit.error();
  platform::PricePage page{"", *limit};
  if (auto it = values->find("after"); it != values->end()) {
    if (auto valid = platform::validate_model_name(it->second); !valid.ok())
      return invalid_request("after must be the model of a price of the list, got '" + it->second +
                                 "': " + valid.error().message,
                             "after");
    page.after_model = it->second;
  }
  return page;
}

/// A request body: a JSON object whose fields are all among `allowed` (parse_body()).
struct Body {
  json fields;
  bool has(const char* name) const { return fields.contains(name); }
  const json& operator[](const char* name) const { return fields.at(name); }
};

/// `text` as a Body. Errors (400): those of parse_json_object() (not a JSON object, a field
/// given twice), a field not among `allowed`.
ApiResult<Body> parse_body(std::string_view text, std::vector<std::string_view> allowed) {
  auto parsed = parse_json_object(text);
  if (!parsed.ok()) return parsed.error();
  json& body = *parsed;
  for (const auto& [name, value] : body.items()) {
    bool known = false;
    for (std::string_view field : allowed) known = known || name == field;
    if (!known) {
      std::string list;
      for (std::string_view field : allowed)
        list += (list.empty() ? "" : ", ") + std::string(field);
      return invalid_request("unknown field '" + name + "' (the fields are " + list + ")", name);
    }
  }
  return Body{std::move(body)};
}

/// An amount in USD: decimal text or a JSON number, parsed by parse_usd() (never a double).
ApiResult<int64_t> read_usd(const json& value, const std::string& field) {
  std::string text;
  if (value.is_string())
    text = value.get<std::string>();
  else if (value.is_number())
    text = value.dump();
  else
    return invalid_request(field + " must be an amount in USD (\"0.15\" or 0.15)", field);
  auto usd = platform::parse_usd(text, field);
  if (!usd.ok())
    // A JSON number is read as a double, whose shortest text may not be what the client wrote
    // (QA 2026-12-07: 0.3000000000000000444 was quoted as 0.30000000000000004).
    return invalid_request(
        usd.error().message + (value.is_number() ? " (a JSON number is read as a double, whose "
                                                   "text that is; give the amount as a string)"
                                                 : ""),
        field);
  return *usd;
}

/// A whole number 0..`max`.
ApiResult<int64_t> read_count(const json& value, const std::string& field, int64_t max) {
  if (!value.is_number_integer() ||
      (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(max)) ||
      value.get<int64_t>() < 0 || value.get<int64_t>() > max)
    return invalid_request(field + " must be a whole number from 0 to " + std::to_string(max),
                           field);
  return value.get<int64_t>();
}

/// `limits` of the `what` ("key", "tenant") with the limit fields present in `body` applied;
/// null clears a limit (budget_usd null its period too). A budget_period that leaves no budget to
/// apply to is 400 (on a PATCH it was stored and reported as updated, meaning nothing).
ApiResult<platform::Limits> read_limits(const Body& body, platform::Limits limits,
                                        std::string_view what) {
  if (body.has("budget_usd")) {
    if (body["budget_usd"].is_null()) {
      // (its period goes with it: kept, a later budget_usd alone would take it silently)
      limits.budget_micro_usd.reset();
      limits.budget_period = platform::BudgetPeriod::Total;
    } else {
      auto budget = read_usd(body["budget_usd"], "budget_usd");
      if (!budget.ok()) return budget.error();
      limits.budget_micro_usd = *budget;
    }
  }
  if (body.has("budget_period")) {
    const json& value = body["budget_period"];
    auto period = value.is_string() ? platform::parse_period(value.get<std::string>())
                                    : std::optional<platform::BudgetPeriod>();
    if (!period)
      return invalid_request("budget_period must be day, month or total", "budget_period");
    limits.budget_period = *period;
  }
  for (const char* field : {"rpm", "tpm"}) {
    if (!body.has(field)) continue;
    std::optional<int64_t>& limit = std::string_view(field) == "rpm" ? limits.rpm : limits.tpm;
    if (body[field].is_null()) {
      limit.reset();
      continue;
    }
    auto count = read_count(body[field], field, kMaxRate);
    if (!count.ok()) return count.error();
    limit = *count;
  }
  if (body.has("budget_period") && !limits.budget_micro_usd)
    return invalid_request("budget_period is the period of a budget, and the " + std::string(what) +
                               " would have none: give budget_usd too",
                           "budget_period");
  return limits;
}

ApiResult<std::string> read_name(const Body& body, const char* field, std::string_view what) {
  if (!body.has(field)) return invalid_request(std::string(field) + " is required", field);
  if (!body[field].is_string())
    return invalid_request(std::string(field) + " must be a string", field);
  std::string name = body[field].get<std::string>();
  auto valid =
      what == "model" ? platform::validate_model_name(name) : platform::validate_name(what, name);
  if (!valid.ok()) return invalid_request(valid.error().message, field);
  return name;
}

/// The tenant `id` if `caller` may see it (null: the deployment's operator, who sees all); 404
/// otherwise.
ApiResult<platform::TenantInfo> visible_tenant(platform::Store& store, const AdminCaller* caller,
                                               int64_t id) {
  auto tenant = store.find_tenant(id);
  if (!tenant.ok()) return store_failed("cannot read the tenant", tenant.error());
  if (*tenant && (!caller || caller->may_manage(id))) return **tenant;
  return not_found("tenant", std::to_string(id));
}

/// The key `id` if `caller` may manage it (null: the deployment's operator, who manages all);
/// 404 otherwise.
ApiResult<platform::KeyInfo> visible_key(platform::Store& store, const AdminCaller* caller,
                                         int64_t id) {
  auto key = store.find_key(id);
  if (!key.ok()) return store_failed("cannot read the API key", key.error());
  if (*key && (!caller || caller->may_manage(**key))) return **key;
  return not_found("API key", std::to_string(id));
}

/// Answers a request to one collection; `caller` already holds the need of the method.
class AdminRequest {
 public:
  AdminRequest(const deploy::Registry& registry, platform::Store& store, const HttpRequest& request,
               Responder& out)
      : registry_(registry), store_(store), request_(request), out_(out) {}

  void serve(const AdminPath& path);

 private:
  void list_tenants(const AdminCaller& caller, const platform::Page& page);
  void create_tenant(const AdminCaller& caller);
  void patch_tenant(const AdminCaller& caller, int64_t id);
  void list_keys(const AdminCaller& caller, const platform::Page& page);
  void create_key(const AdminCaller& caller);
  void patch_key(const AdminCaller& caller, int64_t id);
  void revoke_key(const AdminCaller& caller, int64_t id);
  void list_prices(const platform::PricePage& page);
  void set_price(const AdminCaller& caller);
  void audit_log(const platform::Page& page);

  /// Sends `error` and returns true when `result` failed.
  template <class T>
  bool failed(const ApiResult<T>& result) {
    if (result.ok()) return false;
    send_error(out_, result.error());
    return true;
  }
  /// 409 naming `name` when a tenant has it; the store's error when it cannot tell.
  ApiResult<bool> tenant_name_free(const std::string& name) {
    auto tenant = store_.find_tenant_named(name);
    if (!tenant.ok()) return store_failed("cannot create the tenant", tenant.error());
    if (*tenant) return conflict("a tenant named '" + name + "' exists already", "name");
    return true;
  }
  /// 409 naming `name` when an active key of `tenant` has it; the store's error when it cannot
  /// tell. Other tenants' keys are not looked at: a key's name is its tenant's own, and the
  /// answer tells nothing of other tenants.
  ApiResult<bool> key_name_free(const platform::TenantInfo& tenant, const std::string& name) {
    auto key = store_.find_active_key_named(tenant.id, name);
    if (!key.ok()) return store_failed("cannot create the API key", key.error());
    if (*key)
      return conflict(
          "an active key named '" + name + "' exists already in tenant '" + tenant.name + "'",
          "name");
    return true;
  }

  const deploy::Registry& registry_;
  platform::Store& store_;
  const HttpRequest& request_;
  Responder& out_;
};

void AdminRequest::serve(const AdminPath& path) {
  const std::string& method = request_.method;
  const bool reads = method == "GET";
  const bool deployment_wide = path.collection == Collection::Audit ||
                               (path.collection == Collection::Tenants && !reads) ||
                               (path.collection == Collection::Prices && !reads);
  auto caller = authorize_admin(store_, request_.header("Authorization"),
                                deployment_wide ? AdminNeed::Deployment : AdminNeed::Tenant);
  if (failed(caller)) return;
  // The lists (tenants, keys, prices, the audit log) are paged; nothing else takes parameters.
  platform::Page page;
  platform::PricePage price_page;
  if (reads && path.collection == Collection::Prices) {
    auto parsed = parse_price_page(request_.target);
    if (failed(parsed)) return;
    price_page = *parsed;
  } else if (reads && !path.id) {
    auto parsed = parse_page(request_.target);
    if (failed(parsed)) return;
    page = *parsed;
  } else if (const size_t q = request_.target.find('?');
             q != std::string::npos && q + 1 < request_.target.size()) {
    send_error(out_, invalid_request(method + " " + request_.path + " takes no query parameters"));
    return;
  }
  switch (path.collection) {
    case Collection::Tenants:
      if (!path.id) return reads ? list_tenants(*caller, page) : create_tenant(*caller);
      if (reads) {
        auto tenant = visible_tenant(store_, &*caller, *path.id);
        if (!failed(tenant)) send_json(out_, tenant_json(*tenant));
        return;
      }
      return patch_tenant(*caller, *path.id);
    case Collection::Keys:
      if (!path.id) return reads ? list_keys(*caller, page) : create_key(*caller);
      if (reads) {
        auto key = visible_key(store_, &*caller, *path.id);
        if (!failed(key)) send_json(out_, key_json(*key));
        return;
      }
      return method == "PATCH" ? patch_key(*caller, *path.id) : revoke_key(*caller, *path.id);
    case Collection::Prices:
      return reads ? list_prices(price_page) : set_price(*caller);
    case Collection::Audit:
      return audit_log(page);
  }
}

void AdminRequest::list_tenants(const AdminCaller& caller, const platform::Page& page) {
  // One more than the page holds tells whether more follow.
  std::vector<platform::TenantInfo> tenants;
  if (auto own = caller.tenant_scope()) {
    if (*own > page.after_id) {
      auto tenant = visible_tenant(store_, &caller, *own);
      if (failed(tenant)) return;
      tenants.push_back(*tenant);
    }
  } else {
    auto read = store_.tenants_page({page.after_id, page.limit + 1});
    if (!read.ok()) {
      send_error(out_, store_failed("cannot list tenants", read.error()));
      return;
    }
    tenants = std::move(*read);
  }
  const bool has_more = static_cast<int64_t>(tenants.size()) > page.limit;
  if (has_more) tenants.resize(page.limit);
  json data = json::array();
  for (const platform::TenantInfo& tenant : tenants) data.push_back(tenant_json(tenant));
  send_json(out_, page_json(std::move(data), has_more));
}

void AdminRequest::create_tenant(const AdminCaller& caller) {
  auto body = parse_body(request_.body, {"name", "budget_usd", "budget_period", "rpm", "tpm"});
  if (failed(body)) return;
  auto name = read_name(*body, "name", "tenant");
  if (failed(name)) return;
  auto limits = read_limits(*body, {}, "tenant");
  if (failed(limits)) return;
  if (failed(tenant_name_free(*name))) return;
  auto tenant = store_.create_tenant(*name, *limits, caller.actor());
  if (!tenant.ok()) {
    // Another request may have taken the name since (PostgreSQL's unique index refuses it).
    if (!failed(tenant_name_free(*name)))
      send_error(out_, store_failed("cannot create the tenant", tenant.error()));
    return;
  }
  send_json(out_, tenant_json(*tenant), 201);
}

void AdminRequest::patch_tenant(const AdminCaller& caller, int64_t id) {
  auto updated = update_tenant_limits(store_, id, request_.body, caller.actor(), &caller);
  if (!failed(updated)) send_json(out_, tenant_json(*updated));
}

void AdminRequest::list_keys(const AdminCaller& caller, const platform::Page& page) {
  // The keys AdminCaller::may_manage() allows: an owner's tenant's, without admin keys.
  const std::optional<int64_t> own = caller.tenant_scope();
  auto keys = store_.keys_page({{page.after_id, page.limit + 1}, own, !own});
  if (!keys.ok()) {
    send_error(out_, store_failed("cannot list API keys", keys.error()));
    return;
  }
  const bool has_more = static_cast<int64_t>(keys->size()) > page.limit;
  if (has_more) keys->resize(page.limit);
  json data = json::array();
  for (const platform::KeyInfo& key : *keys) data.push_back(key_json(key));
  send_json(out_, page_json(std::move(data), has_more));
}

void AdminRequest::create_key(const AdminCaller& caller) {
  auto body = parse_body(request_.body, {"name", "tenant", "role", "models", "expires_in_days",
                                         "budget_usd", "budget_period", "rpm", "tpm"});
  if (failed(body)) return;
  platform::NewKey key;
  auto name = read_name(*body, "name", "key");
  if (failed(name)) return;
  key.name = *name;
  // The tenant named in the body, else the caller's own (an owner's), else the default one.
  const std::optional<int64_t> own = caller.tenant_scope();
  const bool named = body->has("tenant");
  if (named) {
    if (!(*body)["tenant"].is_string()) {
      send_error(out_, invalid_request("tenant must be a tenant's name", "tenant"));
      return;
    }
    key.tenant = (*body)["tenant"].get<std::string>();
  }
  auto tenant = named || !own ? store_.find_tenant_named(key.tenant) : store_.find_tenant(*own);
  if (!tenant.ok()) {
    send_error(out_, store_failed("cannot create the API key", tenant.error()));
    return;
  }
  if (*tenant) key.tenant = (*tenant)->name;
  if (!*tenant || !caller.may_manage((*tenant)->id)) {
    send_error(out_, invalid_request(
                         "no tenant named '" + key.tenant + "' exists that this API key may see",
                         "tenant"));
    return;
  }
  if (body->has("role")) {
    const json& value = (*body)["role"];
    auto role = value.is_string() ? platform::parse_role(value.get<std::string>())
                                  : std::optional<platform::Role>();
    if (!role) {
      send_error(out_, invalid_request("role must be admin, owner or member", "role"));
      return;
    }
    key.role = *role;
  }
  if (key.role == platform::Role::Admin && caller.key.role != platform::Role::Admin) {
    send_error(out_, permission_denied("only an admin key may create admin keys"));
    return;
  }
  if (body->has("models")) {
    const json& models = (*body)["models"];
    if (!models.is_array()) {
      send_error(out_, invalid_request("models must be an array of model names", "models"));
      return;
    }
    for (const json& model : models) {
      auto valid = model.is_string() ? platform::validate_model_name(model.get<std::string>())
                                     : Result<void>(make_error("a model name must be a string"));
      if (!valid.ok()) {
        send_error(out_, invalid_request("models: " + valid.error().message, "models"));
        return;
      }
      key.models.push_back(model.get<std::string>());
    }
  }
  // (null is absent, as elsewhere in the API)
  if (body->has("expires_in_days") && !(*body)["expires_in_days"].is_null()) {
    auto expiry = key_expiry((*body)["expires_in_days"], store_.now_us());
    if (failed(expiry)) return;
    key.expires_at_us = *expiry;
  } else if (caller.key.role != platform::Role::Admin) {
    // An owner whose key expires makes keys that expire with it unless it asks for sooner (QA
    // 2026-12-07: with less than a day left no key could be made at all).
    key.expires_at_us = caller.key.expires_at_us;
  }
  auto limits = read_limits(*body, {}, "key");
  if (failed(limits)) return;
  key.limits = *limits;
  if (auto refused = caller.refuse_models(key.models)) {
    send_error(out_, *refused);
    return;
  }
  if (auto refused = caller.refuse_expiry(key.expires_at_us)) {
    send_error(out_, *refused);
    return;
  }
  if (failed(key_name_free(**tenant, key.name))) return;
  auto secret = store_.create_key(key, caller.actor());
  if (!secret.ok()) {
    // Another request may have taken the name since (PostgreSQL's unique index refuses it).
    if (!failed(key_name_free(**tenant, key.name)))
      send_error(out_, store_failed("cannot create the API key", secret.error()));
    return;
  }
  auto created = store_.authenticate(*secret);
  if (!created.ok() || !*created) {
    send_error(out_, internal_error("the API key was created but cannot be read back"));
    return;
  }
  json answer = key_json(**created);
  answer["key"] = *secret;
  send_json(out_, answer, 201);
}

void AdminRequest::patch_key(const AdminCaller& caller, int64_t id) {
  auto updated = update_key_limits(store_, id, request_.body, caller.actor(), &caller);
  if (!failed(updated)) send_json(out_, key_json(*updated));
}

void AdminRequest::revoke_key(const AdminCaller& caller, int64_t id) {
  if (!request_.body.empty()) {
    send_error(out_, invalid_request("DELETE /admin/keys/ID takes no body"));
    return;
  }
  auto key = visible_key(store_, &caller, id);
  if (failed(key)) return;
  if (key->revoked_at_us) {
    send_error(out_, conflict("the API key " + std::to_string(id) + " is already revoked"));
    return;
  }
  if (auto revoked = store_.revoke_key_id(id, caller.actor()); !revoked.ok()) {
    if (platform::is_last_admin_key_error(revoked.error())) {
      send_error(out_, conflict(revoked.error().message));
      return;
    }
    // Another request may have revoked it since.
    auto now = visible_key(store_, &caller, id);
    if (failed(now)) return;
    send_error(out_, now->revoked_at_us
                         ? conflict("the API key " + std::to_string(id) + " is already revoked")
                         : store_failed("cannot revoke the API key", revoked.error()));
    return;
  }
  auto after = visible_key(store_, &caller, id);
  if (failed(after)) return;
  send_json(out_, key_json(*after));
}

void AdminRequest::list_prices(const platform::PricePage& page) {
  // One more than the page holds tells whether more follow.
  auto prices = store_.prices_page({page.after_model, page.limit + 1});
  if (!prices.ok()) {
    send_error(out_, store_failed("cannot list prices", prices.error()));
    return;
  }
  const bool has_more = static_cast<int64_t>(prices->size()) > page.limit;
  if (has_more) prices->resize(page.limit);
  json data = json::array();
  for (const platform::ModelPrice& p : *prices) data.push_back(price_json(p.model, p.price));
  send_json(out_, page_json(std::move(data), has_more, "model"));
}

void AdminRequest::set_price(const AdminCaller& caller) {
  auto body = parse_body(request_.body, {"model", "input", "cached_input", "output"});
  if (failed(body)) return;
  auto model = read_name(*body, "model", "model");
  if (failed(model)) return;
  if (auto named = registry_.find(*model); named && named->id != *model) {
    send_error(out_, invalid_request("'" + *model + "' is an alias of the model '" + named->id +
                                         "', which its requests are billed as: set the price "
                                         "of '" +
                                         named->id + "'",
                                     "model"));
    return;
  }
  platform::Price price;
  for (const char* field : {"input", "output"}) {
    if (!body->has(field)) {
      send_error(out_, invalid_request(std::string(field) + " is required (USD per million tokens)",
                                       field));
      return;
    }
    auto usd = read_usd((*body)[field], field);
    if (failed(usd)) return;
    (std::string_view(field) == "input" ? price.input : price.output) = *usd;
  }
  price.cached_input = price.input;
  if (body->has("cached_input")) {
    auto usd = read_usd((*body)["cached_input"], "cached_input");
    if (failed(usd)) return;
    price.cached_input = *usd;
  }
  if (auto valid = platform::validate_price(price); !valid.ok()) {
    send_error(out_, invalid_request(valid.error().message, "cached_input"));
    return;
  }
  if (auto set = store_.set_price(*model, price, caller.actor()); !set.ok()) {
    send_error(out_, store_failed("cannot set the price", set.error()));
    return;
  }
  send_json(out_, price_json(*model, price));
}

void AdminRequest::audit_log(const platform::Page& page) {
  auto entries = store_.audit_page({page.after_id, page.limit + 1});
  if (!entries.ok()) {
    send_error(out_, store_failed("cannot read the audit log", entries.error()));
    return;
  }
  const bool has_more = static_cast<int64_t>(entries->size()) > page.limit;
  if (has_more) entries->resize(page.limit);
  json data = json::array();
  for (const platform::AuditEntry& e : *entries)
    data.push_back({{"object", "audit_entry"},
                    {"id", e.id},
                    {"at_us", e.at_us},
                    {"actor", e.actor},
                    {"actor_key_id", optional_json(e.actor_key_id)},
                    {"action", e.action},
                    {"target", e.target},
                    {"detail", e.detail}});
  send_json(out_, page_json(std::move(data), has_more));
}

/// `limits` of the `what` ("key", "tenant") with the fields of a PATCH `body` applied
/// (read_limits()), after the caller was allowed: its errors, and a body that changes nothing
/// (400, as `keys update` / `tenants update` without a flag: QA 2026-12-07, `{}` was 200 and
/// wrote an audit entry of a change).
ApiResult<platform::Limits> patched_limits(const Body& body, const platform::Limits& limits,
                                           std::string_view what) {
  if (body.fields.empty())
    return invalid_request("nothing to change: give budget_usd, budget_period, rpm or tpm");
  return read_limits(body, limits, what);
}

}  // namespace

ApiResult<platform::TenantInfo> update_tenant_limits(platform::Store& store, int64_t id,
                                                     std::string_view body,
                                                     const platform::Actor& actor,
                                                     const AdminCaller* caller) {
  auto fields = parse_body(body, {"budget_usd", "budget_period", "rpm", "tpm"});
  if (!fields.ok()) return fields.error();
  auto tenant = visible_tenant(store, caller, id);
  if (!tenant.ok()) return tenant.error();
  auto limits = patched_limits(*fields, tenant->limits, "tenant");
  if (!limits.ok()) return limits.error();
  auto updated = store.set_tenant_limits(id, *limits, actor);
  if (!updated.ok()) return store_failed("cannot set the tenant's limits", updated.error());
  return *updated;
}

ApiResult<platform::KeyInfo> update_key_limits(platform::Store& store, int64_t id,
                                               std::string_view body, const platform::Actor& actor,
                                               const AdminCaller* caller) {
  auto fields = parse_body(body, {"budget_usd", "budget_period", "rpm", "tpm"});
  if (!fields.ok()) return fields.error();
  auto key = visible_key(store, caller, id);
  if (!key.ok()) return key.error();
  if (caller)
    if (auto refused = caller->refuse_change(*key)) return *refused;
  if (key->revoked_at_us) return conflict("the API key " + std::to_string(id) + " is revoked");
  auto limits = patched_limits(*fields, key->limits, "key");
  if (!limits.ok()) return limits.error();
  auto updated = store.set_key_limits(id, *limits, actor);
  if (!updated.ok()) return store_failed("cannot set the key's limits", updated.error());
  return *updated;
}

std::string admin_methods(std::string_view path) {
  auto parsed = parse_admin_path(path);
  if (!parsed) return "";
  switch (parsed->collection) {
    case Collection::Tenants:
      return parsed->id ? "GET, PATCH" : "GET, POST";
    case Collection::Keys:
      return parsed->id ? "GET, PATCH, DELETE" : "GET, POST";
    case Collection::Prices:
      return "GET, POST";
    case Collection::Audit:
      return "GET";
  }
  return "";
}

ApiResult<int64_t> key_expiry(const nlohmann::json& days, int64_t now_us, std::string_view what) {
  const bool valid = days.is_number_unsigned()
                         ? days.get<uint64_t>() >= 1 &&
                               days.get<uint64_t>() <= static_cast<uint64_t>(kMaxExpiryDays)
                         : days.is_number_integer() && days.get<int64_t>() >= 1 &&
                               days.get<int64_t>() <= kMaxExpiryDays;
  if (!valid)
    return invalid_request(std::string(what) + " must be a whole number of days from 1 to " +
                               std::to_string(kMaxExpiryDays),
                           "expires_in_days");
  return now_us + days.get<int64_t>() * kDayUs;
}

void handle_admin(const deploy::Registry& registry, platform::Store& store,
                  const HttpRequest& request, Responder& out) {
  auto path = parse_admin_path(request.path);
  if (!path) {
    send_error(out, unknown_endpoint(request.method, request.path));
    return;
  }
  AdminRequest(registry, store, request, out).serve(*path);
}

}  // namespace gengyun::api
