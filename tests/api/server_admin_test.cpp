// The admin API (/admin/...): every endpoint tried with each role and with keys of another
// tenant (isolation), bad input refused with 400 and nothing written, and the round trips of
// tenants, keys, limits, prices and the audit log.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "../platform/store_reads.h"
#include "platform/key_cache.h"
#include "server_fixture.h"
#include "util/clock.h"

namespace gengyun::api::testing {
namespace {

using platform::testing::all_keys;
using platform::testing::all_tenants;

using nlohmann::json;
using platform::Role;

class AdminTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto acme = store_->create_tenant("acme", {});
    auto rival = store_->create_tenant("rival", {});
    ASSERT_TRUE(acme.ok() && rival.ok());
    acme_ = acme->id;
    rival_ = rival->id;
    admin_ = key({"root", "default", Role::Admin});
    owner_ = key({"acme-owner", "acme", Role::Owner});
    member_ = key({"acme-member", "acme", Role::Member});
    rival_owner_ = key({"rival-owner", "rival", Role::Owner});
    key({"acme-bot", "acme", Role::Member});
    key({"acme-admin", "acme", Role::Admin});
    key({"rival-bot", "rival", Role::Member});
  }

  std::string key(const platform::NewKey& key) {
    auto secret = store_->create_key(key);
    EXPECT_TRUE(secret.ok()) << secret.error().message;
    ids_[key.name] = store_->authenticate(*secret).value()->id;
    return *secret;
  }

  /// The response's status; its JSON body in `body` when given.
  int status(const std::string& method, const std::string& path, const json& request,
             const std::string& key, json* body = nullptr) {
    auto r = call(method, path, request.is_null() ? "" : request.dump(), key);
    EXPECT_TRUE(r) << method << " " << path;
    if (!r) return 0;
    if (body) *body = json::parse(r->body, nullptr, false);
    return r->status;
  }

  /// The names of the objects listed by GET `path`.
  std::vector<std::string> names(const std::string& path, const std::string& key) {
    json body;
    EXPECT_EQ(status("GET", path, nullptr, key, &body), 200) << body.dump();
    std::vector<std::string> out;
    for (const json& item : body["data"]) out.push_back(item["name"]);
    return out;
  }

  /// The audit log's entries made through the API (SetUp's are the store's, actor "cli").
  std::string audit_actions() {
    std::string out;
    auto log = platform::testing::all_audit_entries(*store_);
    EXPECT_TRUE(log.ok());
    for (const platform::AuditEntry& e : *log)
      if (e.actor != "cli") out += e.actor + " " + e.action + " " + e.target + "\n";
    return out;
  }

  int64_t acme_ = 0, rival_ = 0;
  std::map<std::string, int64_t> ids_;
  std::string admin_, owner_, member_, rival_owner_;
};

TEST_F(AdminTest, EveryEndpointWithEveryRole) {
  const std::string tenant = "/admin/tenants/" + std::to_string(acme_);
  const std::string bot = "/admin/keys/" + std::to_string(ids_["acme-bot"]);
  struct Case {
    std::string method, path;
    json body;
    // Expected status for: no key, member of acme, owner of rival, owner of acme, admin.
    std::vector<int> want;
  };
  const Case cases[] = {
      {"GET", "/admin/tenants", nullptr, {401, 403, 200, 200, 200}},
      {"POST", "/admin/tenants", {{"name", "newco"}}, {401, 403, 403, 403, 201}},
      {"GET", tenant, nullptr, {401, 403, 404, 200, 200}},
      {"PATCH", tenant, {{"rpm", 5}}, {401, 403, 403, 403, 200}},
      {"GET", "/admin/keys", nullptr, {401, 403, 200, 200, 200}},
      {"POST", "/admin/keys", {{"name", "k"}, {"tenant", "acme"}}, {401, 403, 400, 201, 409}},
      {"GET", bot, nullptr, {401, 403, 404, 200, 200}},
      {"PATCH", bot, {{"rpm", 7}}, {401, 403, 404, 200, 200}},
      {"GET", "/admin/prices", nullptr, {401, 403, 200, 200, 200}},
      {"POST",
       "/admin/prices",
       {{"model", "qwen"}, {"input", 1}, {"output", 2}},
       {401, 403, 403, 403, 200}},
      {"GET", "/admin/audit", nullptr, {401, 403, 403, 403, 200}},
      {"GET", "/v1/usage", nullptr, {401, 200, 200, 200, 200}},
      {"DELETE", bot, nullptr, {401, 403, 404, 200, 409}},
  };
  const std::string callers[] = {"", member_, rival_owner_, owner_, admin_};
  for (const Case& c : cases)
    for (size_t i = 0; i < 5; ++i) {
      json body;
      EXPECT_EQ(status(c.method, c.path, c.body, callers[i], &body), c.want[i])
          << c.method << " " << c.path << " as caller " << i << ": " << body.dump();
    }
  // Only the acme owner and the admin changed anything, each within its scope.
  EXPECT_EQ(audit_actions(),
            "key:root tenant.create newco\n"
            "key:root tenant.limits acme\n"
            "key:acme-owner key.create k\n"
            "key:acme-owner key.limits acme-bot\n"
            "key:root key.limits acme-bot\n"
            "key:root price.set qwen\n"
            "key:acme-owner key.revoke acme-bot\n");
  auto keys = all_keys(*store_);
  ASSERT_TRUE(keys.ok());
  for (const platform::KeyInfo& k : *keys) {
    if (k.name != "k") continue;
    EXPECT_EQ(k.tenant_id, acme_);
  }
}

/// The ids of a page's objects, then first_id, last_id and has_more, as text: "3 4 | 3 4 true".
std::string page_text(const json& body) {
  std::string out;
  for (const json& item : body["data"]) out += item["id"].dump() + " ";
  return out + "| " + body["first_id"].dump() + " " + body["last_id"].dump() + " " +
         body["has_more"].dump();
}

/// page_text() of the page of the objects named `names` (their ids in `ids`).
std::string want_page(const std::map<std::string, int64_t>& ids,
                      const std::vector<std::string>& names, bool has_more) {
  std::string out;
  for (const std::string& name : names) out += std::to_string(ids.at(name)) + " ";
  const std::string first = names.empty() ? "null" : std::to_string(ids.at(names.front()));
  const std::string last = names.empty() ? "null" : std::to_string(ids.at(names.back()));
  return out + "| " + first + " " + last + " " + (has_more ? "true" : "false");
}

TEST_F(AdminTest, HeadReadsAsGetDoes) {
  // HEAD is GET's read, with the same scope (an owner may list its tenant and keys, not the
  // audit log), and changes nothing.
  httplib::Client client("127.0.0.1", port_);
  const std::string one_key = "/admin/keys/" + std::to_string(ids_["acme-bot"]);
  const std::pair<std::string, std::string> cases[] = {
      {"/admin/tenants", owner_}, {"/admin/keys", owner_},  {one_key, owner_},
      {"/admin/audit", admin_},   {"/admin/audit", owner_}, {"/admin/prices", member_}};
  const std::string audit = audit_actions();
  for (const auto& [path, secret] : cases) {
    const httplib::Headers auth = {{"Authorization", "Bearer " + secret}};
    auto got = client.Get(path, auth);
    auto head = client.Head(path, auth);
    ASSERT_TRUE(got && head) << path;
    EXPECT_EQ(head->status, got->status) << path;
    EXPECT_EQ(head->body, "") << path;
    EXPECT_EQ(head->get_header_value("Content-Length"), std::to_string(got->body.size())) << path;
  }
  EXPECT_EQ(status("GET", "/admin/tenants", nullptr, owner_), 200);
  EXPECT_EQ(status("GET", "/admin/audit", nullptr, owner_), 403);
  EXPECT_EQ(audit_actions(), audit);
}

TEST_F(AdminTest, ListsArePagedWithLimitAndAfter) {
  // The keys by id: the fixture's "test", then SetUp's seven; the tenants: default, acme, rival.
  std::map<std::string, int64_t> keys = ids_;
  keys["test"] = key_id_;
  const auto root = store_->authenticate(admin_);
  ASSERT_TRUE(root.ok() && root.value());
  const std::map<std::string, int64_t> tenants = {
      {"default", root.value()->tenant_id}, {"acme", acme_}, {"rival", rival_}};
  const auto after = [&](const std::string& name) {
    return std::to_string(keys.count(name) ? keys.at(name) : tenants.at(name));
  };
  struct Case {
    std::string path, key;
    std::vector<std::string> names;
    bool has_more;
  };
  const Case key_cases[] = {
      // The admin sees every key.
      {"/admin/keys",
       admin_,
       {"test", "root", "acme-owner", "acme-member", "rival-owner", "acme-bot", "acme-admin",
        "rival-bot"},
       false},
      {"/admin/keys?limit=3", admin_, {"test", "root", "acme-owner"}, true},
      {"/admin/keys?limit=3&after=" + after("acme-owner"),
       admin_,
       {"acme-member", "rival-owner", "acme-bot"},
       true},
      {"/admin/keys?after=" + after("acme-bot") + "&limit=3",
       admin_,
       {"acme-admin", "rival-bot"},
       false},
      {"/admin/keys?limit=8",
       admin_,
       {"test", "root", "acme-owner", "acme-member", "rival-owner", "acme-bot", "acme-admin",
        "rival-bot"},
       false},
      {"/admin/keys?limit=7",
       admin_,
       {"test", "root", "acme-owner", "acme-member", "rival-owner", "acme-bot", "acme-admin"},
       true},
      {"/admin/keys?after=" + after("rival-bot"), admin_, {}, false},
      {"/admin/keys?after=999", admin_, {}, false},
      // Any id in int64's range is a position, the 19 digits of the largest too.
      {"/admin/keys?after=1234567890123456789", admin_, {}, false},
      {"/admin/keys?after=9223372036854775807", admin_, {}, false},
      {"/admin/keys?limit=1&after=00000000000000000000" + after("test"), admin_, {"root"}, true},
      {"/admin/keys?after=0&limit=1", admin_, {"test"}, true},
      // An owner sees its tenant's keys but its admin keys, paged over those alone.
      {"/admin/keys?limit=2", owner_, {"acme-owner", "acme-member"}, true},
      {"/admin/keys?limit=2&after=" + after("acme-member"), owner_, {"acme-bot"}, false},
      {"/admin/keys?limit=1&after=" + after("acme-member"), owner_, {"acme-bot"}, false},
      // `after` is a position: another tenant's key id pages on from where it would be.
      {"/admin/keys?after=" + after("rival-owner"), owner_, {"acme-bot"}, false},
      {"/admin/keys?after=" + after("acme-admin"), owner_, {}, false},
      {"/admin/keys?limit=1", rival_owner_, {"rival-owner"}, true},
      {"/admin/keys?limit=1&after=" + after("rival-owner"), rival_owner_, {"rival-bot"}, false},
      {"/admin/keys?after=" + after("acme-bot"), rival_owner_, {"rival-bot"}, false},
      {"/admin/keys?after=" + after("rival-bot"), rival_owner_, {}, false},
  };
  for (const Case& c : key_cases) {
    json body;
    ASSERT_EQ(status("GET", c.path, nullptr, c.key, &body), 200) << c.path << ": " << body.dump();
    EXPECT_EQ(body["object"], "list") << c.path;
    EXPECT_EQ(page_text(body), want_page(keys, c.names, c.has_more)) << c.path;
  }
  const Case tenant_cases[] = {
      {"/admin/tenants", admin_, {"default", "acme", "rival"}, false},
      {"/admin/tenants?limit=2", admin_, {"default", "acme"}, true},
      {"/admin/tenants?limit=2&after=" + after("acme"), admin_, {"rival"}, false},
      {"/admin/tenants?limit=1&after=" + after("default"), admin_, {"acme"}, true},
      {"/admin/tenants?after=" + after("rival"), admin_, {}, false},
      {"/admin/tenants?after=9223372036854775807", admin_, {}, false},
      {"/admin/tenants?limit=1", owner_, {"acme"}, false},
      {"/admin/tenants?after=" + after("default"), owner_, {"acme"}, false},
      {"/admin/tenants?after=" + after("acme"), owner_, {}, false},
      {"/admin/tenants?after=" + after("acme"), rival_owner_, {"rival"}, false},
      {"/admin/tenants?after=" + after("rival"), rival_owner_, {}, false},
  };
  for (const Case& c : tenant_cases) {
    json body;
    ASSERT_EQ(status("GET", c.path, nullptr, c.key, &body), 200) << c.path << ": " << body.dump();
    EXPECT_EQ(body["object"], "list") << c.path;
    EXPECT_EQ(page_text(body), want_page(tenants, c.names, c.has_more)) << c.path;
  }

  // The audit log: the fixture's key, SetUp's 2 tenants and 7 keys, in the order made.
  const std::vector<std::string> targets = {"test",       "acme",        "rival",       "root",
                                            "acme-owner", "acme-member", "rival-owner", "acme-bot",
                                            "acme-admin", "rival-bot"};
  auto log = platform::testing::all_audit_entries(*store_);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), targets.size());
  std::map<std::string, int64_t> entries;
  for (size_t i = 0; i < targets.size(); ++i) {
    EXPECT_EQ((*log)[i].target, targets[i]);
    entries[targets[i]] = (*log)[i].id;
  }
  const Case audit_cases[] = {
      {"/admin/audit?limit=4", admin_, {"test", "acme", "rival", "root"}, true},
      {"/admin/audit?limit=4&after=" + std::to_string(entries["root"]),
       admin_,
       {"acme-owner", "acme-member", "rival-owner", "acme-bot"},
       true},
      {"/admin/audit?limit=4&after=" + std::to_string(entries["acme-bot"]),
       admin_,
       {"acme-admin", "rival-bot"},
       false},
      {"/admin/audit?after=" + std::to_string(entries["rival-bot"]), admin_, {}, false},
      {"/admin/audit?after=9223372036854775807", admin_, {}, false},
      // Percent-escapes and an empty pair are read as the usage report reads them.
      {"/admin/audit?limit=%32&after=" + std::to_string(entries["acme-bot"]) + "&",
       admin_,
       {"acme-admin", "rival-bot"},
       false},
  };
  for (const Case& c : audit_cases) {
    json body;
    ASSERT_EQ(status("GET", c.path, nullptr, c.key, &body), 200) << c.path << ": " << body.dump();
    EXPECT_EQ(page_text(body), want_page(entries, c.names, c.has_more)) << c.path;
    for (size_t i = 0; i < body["data"].size() && i < c.names.size(); ++i) {
      EXPECT_EQ(body["data"][i]["target"], c.names[i]) << c.path;
      EXPECT_EQ(body["data"][i]["object"], "audit_entry") << c.path;
    }
  }
  // The default page holds 20: 25 entries more make 35, read as 20 then 15.
  for (int i = 0; i < 25; ++i)
    ASSERT_TRUE(store_->set_price("m" + std::to_string(i), {1, 1, 1}).ok());
  json body;
  ASSERT_EQ(status("GET", "/admin/audit", nullptr, admin_, &body), 200);
  ASSERT_EQ(body["data"].size(), 20u);
  EXPECT_EQ(body["has_more"], true);
  ASSERT_EQ(status("GET", "/admin/audit?after=" + body["last_id"].dump(), nullptr, admin_, &body),
            200);
  ASSERT_EQ(body["data"].size(), 15u);
  EXPECT_EQ(body["data"][14]["target"], "m24");
  EXPECT_EQ(body["has_more"], false);
}

/// The objects of every page of GET `path` with `limit` (following last_id while has_more),
/// by their "name"; "" on a failure (reported).
std::string walked(const std::function<int(const std::string&, json*)>& get,
                   const std::string& path, int limit) {
  std::string names;
  std::string after;
  for (int pages = 0; pages < 100; ++pages) {
    json body;
    const std::string target = path + "?limit=" + std::to_string(limit) + after;
    const int code = get(target, &body);
    EXPECT_EQ(code, 200) << target << ": " << body.dump();
    if (code != 200) return "";
    EXPECT_LE(body["data"].size(), static_cast<size_t>(limit)) << target;
    for (const json& item : body["data"]) names += item["name"].get<std::string>() + " ";
    if (!body["has_more"].get<bool>()) return names;
    after = "&after=" + body["last_id"].dump();
  }
  ADD_FAILURE() << path << " did not end in 100 pages";
  return "";
}

TEST_F(AdminTest, AnOwnerPagingSeesOnlyItsTenantsKeys) {
  // Keys of both tenants interleaved, so that each page of an owner's walk is cut from ids
  // among the other tenant's.
  for (int i = 0; i < 6; ++i) {
    key({"acme-k" + std::to_string(i), "acme", Role::Member});
    key({"rival-k" + std::to_string(i), "rival", Role::Member});
  }
  const std::string acme_keys =
      "acme-owner acme-member acme-bot acme-k0 acme-k1 acme-k2 acme-k3 acme-k4 acme-k5 ";
  const std::string rival_keys =
      "rival-owner rival-bot rival-k0 rival-k1 rival-k2 rival-k3 rival-k4 rival-k5 ";
  const auto as = [this](const std::string& key) {
    return [this, key](const std::string& path, json* body) {
      return status("GET", path, nullptr, key, body);
    };
  };
  for (int limit : {1, 2, 3, 100}) {
    EXPECT_EQ(walked(as(owner_), "/admin/keys", limit), acme_keys) << limit;
    EXPECT_EQ(walked(as(rival_owner_), "/admin/keys", limit), rival_keys) << limit;
    EXPECT_EQ(walked(as(owner_), "/admin/tenants", limit), "acme ") << limit;
    EXPECT_EQ(walked(as(rival_owner_), "/admin/tenants", limit), "rival ") << limit;
    EXPECT_EQ(walked(as(admin_), "/admin/tenants", limit), "default acme rival ") << limit;
  }
  // Members page nothing; an owner's audit log is the admin's alone.
  EXPECT_EQ(status("GET", "/admin/keys?limit=1", nullptr, member_), 403);
  EXPECT_EQ(status("GET", "/admin/tenants?limit=1", nullptr, member_), 403);
  EXPECT_EQ(status("GET", "/admin/audit?limit=1", nullptr, owner_), 403);
}

TEST_F(AdminTest, ABadLimitOrAfterIs400NamingIt) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"/admin/keys?limit=0", "limit", "limit must be a whole number from 1 to 100, got '0'"},
      {"/admin/keys?limit=101", "limit", "limit must be a whole number from 1 to 100, got '101'"},
      {"/admin/tenants?limit=-1", "limit", "limit must be a whole number from 1 to 100, got '-1'"},
      {"/admin/audit?limit=ten", "limit", "limit must be a whole number from 1 to 100, got 'ten'"},
      {"/admin/audit?limit=", "limit", "limit must be a whole number from 1 to 100, got ''"},
      {"/admin/keys?limit=2.5", "limit", "limit must be a whole number from 1 to 100, got '2.5'"},
      {"/admin/keys?after=key_1", "after",
       "after must be the id of an object of the list (a whole number from 0 to "
       "9223372036854775807), got 'key_1'"},
      {"/admin/keys?after=-3", "after",
       "after must be the id of an object of the list (a whole number from 0 to "
       "9223372036854775807), got '-3'"},
      // One past the largest int64 (the largest is a position like any other: above).
      {"/admin/tenants?after=9223372036854775808", "after",
       "after must be the id of an object of the list (a whole number from 0 to "
       "9223372036854775807), got '9223372036854775808'"},
      {"/admin/audit?after=99999999999999999999", "after",
       "after must be the id of an object of the list (a whole number from 0 to "
       "9223372036854775807), got '99999999999999999999'"},
      {"/admin/keys?limit=2&limit=3", "limit", "the parameter 'limit' is given twice"},
      {"/admin/keys?order=desc", "order",
       "unknown parameter 'order' (the parameters are limit, after)"},
      {"/admin/keys?limit=%zz", "", "the query string has a malformed %-escape"},
      {"/admin/keys/5?limit=2", "", "GET /admin/keys/5 takes no query parameters"},
  };
  for (const auto& [path, param, message] : cases) {
    json body;
    ASSERT_EQ(status("GET", path, nullptr, admin_, &body), 400) << path << ": " << body.dump();
    EXPECT_EQ(body["error"]["param"], param.empty() ? json() : json(param)) << path;
    EXPECT_EQ(body["error"]["message"], message) << path;
  }
  // Every paged list, for an admin and for an owner, refuses the same values.
  for (const std::string list : {"/admin/tenants", "/admin/keys", "/admin/audit"})
    for (const std::string value : {"0", "101", "-1", "x", "1e2", "+5", "%20"})
      for (const std::string& key : {admin_, owner_}) {
        if (list == "/admin/audit" && key == owner_) continue;  // 403 before any parameter
        json body;
        const std::string path = list + "?limit=" + value;
        ASSERT_EQ(status("GET", path, nullptr, key, &body), 400) << path << ": " << body.dump();
        EXPECT_EQ(body["error"]["param"], "limit") << path;
        EXPECT_EQ(status("GET", list + "?after=" + value + "z", nullptr, key, &body), 400) << path;
        EXPECT_EQ(body["error"]["param"], "after") << path;
        EXPECT_EQ(status("GET", list + "?before=1", nullptr, key, &body), 400) << list;
        EXPECT_EQ(body["error"]["param"], "before") << list;
      }
  EXPECT_EQ(audit_actions(), "");
}

// Creating a tenant or a key reads the names it needs one by one (the store's reads by name):
// The last active, unexpired admin key is not revoked (issue 8): 409, and the key still works.
TEST_F(AdminTest, TheLastActiveAdminKeyIsNotRevoked) {
  json body;
  ASSERT_EQ(
      status("DELETE", "/admin/keys/" + std::to_string(ids_["acme-admin"]), nullptr, admin_, &body),
      200)
      << body.dump();
  const std::string root = "/admin/keys/" + std::to_string(ids_["root"]);
  ASSERT_EQ(status("DELETE", root, nullptr, admin_, &body), 409);
  EXPECT_EQ(body,
            json({{"error",
                   {{"message", "cannot revoke API key 'root' (id " + std::to_string(ids_["root"]) +
                                    "): it is the last active admin key; create another "
                                    "admin key first"},
                    {"type", "invalid_request_error"},
                    {"param", nullptr},
                    {"code", "conflict"}}}}));
  ASSERT_EQ(status("GET", root, nullptr, admin_, &body), 200);
  EXPECT_TRUE(body["revoked_at"].is_null());
  EXPECT_EQ(audit_actions(), "key:root key.revoke acme-admin\n");
}

// a name in use is 409, a revoked key's name is free, the tenant is the body's, else the
// owner's own, else (an admin's) the default one; names match byte for byte.
TEST_F(AdminTest, ANameIsInUseOnlyByAnActiveKeyOrATenant) {
  json body;
  EXPECT_EQ(status("POST", "/admin/tenants", {{"name", "acme"}}, admin_, &body), 409);
  EXPECT_EQ(body["error"]["message"], "a tenant named 'acme' exists already");
  ASSERT_EQ(status("POST", "/admin/tenants", {{"name", "ACME"}}, admin_, &body), 201);
  const int64_t upper = body["id"];
  EXPECT_NE(upper, acme_);

  EXPECT_EQ(status("POST", "/admin/keys", {{"name", "acme-bot"}}, owner_, &body), 409);
  EXPECT_EQ(body["error"]["message"],
            "an active key named 'acme-bot' exists already in tenant 'acme'");
  EXPECT_EQ(body["error"]["param"], "name");
  ASSERT_EQ(status("DELETE", "/admin/keys/" + std::to_string(ids_["acme-bot"]), nullptr, owner_),
            200);
  ASSERT_EQ(status("POST", "/admin/keys", {{"name", "acme-bot"}}, owner_, &body), 201);
  EXPECT_EQ(body["tenant_id"], acme_);
  EXPECT_NE(body["id"], ids_["acme-bot"]);
  ASSERT_EQ(status("POST", "/admin/keys", {{"name", "root-bot"}}, admin_, &body), 201);
  EXPECT_EQ(body["tenant_id"], 1);
  ASSERT_EQ(status("POST", "/admin/keys", {{"name", "up-bot"}, {"tenant", "ACME"}}, admin_, &body),
            201);
  EXPECT_EQ(body["tenant_id"], upper);
  for (const std::string tenant : {"nobody", "Acme", "acme ", "acm_", "%"}) {
    EXPECT_EQ(status("POST", "/admin/keys", {{"name", "lost"}, {"tenant", tenant}}, admin_, &body),
              400)
        << tenant;
    EXPECT_EQ(body["error"]["message"],
              "no tenant named '" + tenant + "' exists that this API key may see")
        << tenant;
  }
  // An owner names only its own tenant.
  EXPECT_EQ(status("POST", "/admin/keys", {{"name", "lost"}, {"tenant", "ACME"}}, owner_, &body),
            400);
  EXPECT_EQ(body["error"]["param"], "tenant");
  EXPECT_EQ(audit_actions(),
            "key:root tenant.create ACME\n"
            "key:acme-owner key.revoke acme-bot\n"
            "key:acme-owner key.create acme-bot\n"
            "key:root key.create root-bot\n"
            "key:root key.create up-bot\n");
}

// A key's name is its tenant's own (docs/platform.md, "Key names are a tenant's own"): an owner
// creates a name that another tenant's active key has as any free name, and a 409 names its
// own tenant only; an admin's 409 names the tenant it asked for.
TEST_F(AdminTest, KeyNamesAreATenantsOwnAndTellNothingOfOtherTenants) {
  json taken, fresh;
  ASSERT_EQ(status("POST", "/admin/keys", {{"name", "rival-bot"}}, owner_, &taken), 201);
  ASSERT_EQ(status("POST", "/admin/keys", {{"name", "fresh-bot"}}, owner_, &fresh), 201);
  EXPECT_EQ(taken["tenant_id"], acme_);
  EXPECT_EQ(fresh["tenant_id"], acme_);
  EXPECT_NE(taken["id"], ids_["rival-bot"]);
  // Both answers have the same fields: nothing tells that rival has a "rival-bot".
  std::vector<std::string> taken_fields, fresh_fields;
  for (const auto& [field, value] : taken.items()) taken_fields.push_back(field);
  for (const auto& [field, value] : fresh.items()) fresh_fields.push_back(field);
  EXPECT_EQ(taken_fields, fresh_fields);
  // Each tenant's "rival-bot" authenticates as its own.
  auto mine = store_->authenticate(taken["key"].get<std::string>());
  ASSERT_TRUE(mine.ok() && mine->has_value());
  EXPECT_EQ((*mine)->tenant_id, acme_);
  auto theirs = store_->find_key(ids_["rival-bot"]);
  ASSERT_TRUE(theirs.ok() && theirs->has_value());
  EXPECT_EQ((*theirs)->tenant_id, rival_);
  EXPECT_EQ((*theirs)->revoked_at_us, std::nullopt);

  json body;
  EXPECT_EQ(status("POST", "/admin/keys", {{"name", "rival-bot"}}, owner_, &body), 409);
  EXPECT_EQ(body["error"]["message"],
            "an active key named 'rival-bot' exists already in tenant 'acme'");
  EXPECT_EQ(status("POST", "/admin/keys", {{"name", "acme-bot"}}, rival_owner_, &body), 201);
  EXPECT_EQ(body["tenant_id"], rival_);
  EXPECT_EQ(
      status("POST", "/admin/keys", {{"name", "acme-bot"}, {"tenant", "rival"}}, admin_, &body),
      409);
  EXPECT_EQ(body["error"]["message"],
            "an active key named 'acme-bot' exists already in tenant 'rival'");
  EXPECT_EQ(body["error"]["param"], "name");
  EXPECT_EQ(status("POST", "/admin/keys", {{"name", "acme-bot"}}, admin_, &body), 201);
  EXPECT_EQ(body["tenant_id"], 1);
  EXPECT_EQ(audit_actions(),
            "key:acme-owner key.create rival-bot\n"
            "key:acme-owner key.create fresh-bot\n"
            "key:rival-owner key.create acme-bot\n"
            "key:root key.create acme-bot\n");
}

/// The models of a page of prices, then first_id, last_id and has_more, as text:
/// "a b | "a" "b" true".
std::string price_page_text(const json& body) {
  std::string out;
  for (const json& item : body["data"]) out += item["model"].get<std::string>() + " ";
  return out + "| " + body["first_id"].dump() + " " + body["last_id"].dump() + " " +
         body["has_more"].dump();
}

TEST_F(AdminTest, PricesArePagedByModelName) {
  for (const char* model : {"qwen", "Llama-3", "b/x:1", "a", "qwen2"})
    ASSERT_TRUE(store_->set_price(model, {150'000, 75'000, 600'000}).ok());
  // Model names in byte order: upper case first, "b" before "b/x:1".
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/admin/prices", "Llama-3 a b/x:1 qwen qwen2 | \"Llama-3\" \"qwen2\" false"},
      {"/admin/prices?limit=2", "Llama-3 a | \"Llama-3\" \"a\" true"},
      {"/admin/prices?limit=2&after=a", "b/x:1 qwen | \"b/x:1\" \"qwen\" true"},
      {"/admin/prices?after=qwen&limit=2", "qwen2 | \"qwen2\" \"qwen2\" false"},
      {"/admin/prices?after=qwen2", "| null null false"},
      {"/admin/prices?limit=5", "Llama-3 a b/x:1 qwen qwen2 | \"Llama-3\" \"qwen2\" false"},
      {"/admin/prices?limit=4", "Llama-3 a b/x:1 qwen | \"Llama-3\" \"qwen\" true"},
      {"/admin/prices?limit=100&after=Llama-3", "a b/x:1 qwen qwen2 | \"a\" \"qwen2\" false"},
      // `after` is a position: a model without a price pages on from where it would be.
      {"/admin/prices?after=b", "b/x:1 qwen qwen2 | \"b/x:1\" \"qwen2\" false"},
      {"/admin/prices?after=A&limit=1", "Llama-3 | \"Llama-3\" \"Llama-3\" true"},
      {"/admin/prices?after=zz", "| null null false"},
      // Percent-escapes as every query reads them.
      {"/admin/prices?after=b%2Fx%3A1&limit=%31", "qwen | \"qwen\" \"qwen\" true"},
  };
  for (const auto& [path, want] : cases)
    for (const std::string& key : {admin_, owner_, rival_owner_}) {
      json body;
      ASSERT_EQ(status("GET", path, nullptr, key, &body), 200) << path << ": " << body.dump();
      EXPECT_EQ(body["object"], "list") << path;
      EXPECT_EQ(price_page_text(body), want) << path;
    }
  json body;
  ASSERT_EQ(status("GET", "/admin/prices?limit=1", nullptr, admin_, &body), 200);
  EXPECT_EQ(body, json::parse(R"({"object":"list","data":[{"object":"price","model":"Llama-3",
      "input":"0.15","cached_input":"0.075","output":"0.6"}],"first_id":"Llama-3",
      "last_id":"Llama-3","has_more":true})"));
  EXPECT_EQ(status("GET", "/admin/prices?limit=1", nullptr, member_), 403);

  // The default page holds 20: 25 prices more make 30, read as 20 then 10.
  for (int i = 0; i < 25; ++i) {
    const std::string model = "m" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    ASSERT_TRUE(store_->set_price(model, {1, 1, 1}).ok());
  }
  ASSERT_EQ(status("GET", "/admin/prices", nullptr, admin_, &body), 200);
  ASSERT_EQ(body["data"].size(), 20u);
  EXPECT_EQ(body["first_id"], "Llama-3");
  EXPECT_EQ(body["last_id"], "m16");
  EXPECT_EQ(body["has_more"], true);
  ASSERT_EQ(status("GET", "/admin/prices?after=" + body["last_id"].get<std::string>(), nullptr,
                   admin_, &body),
            200);
  EXPECT_EQ(price_page_text(body),
            "m17 m18 m19 m20 m21 m22 m23 m24 qwen qwen2 | \"m17\" \"qwen2\" false");
}

TEST_F(AdminTest, ABadLimitOrAfterOfPricesIs400NamingIt) {
  const std::string comma =
      "the model name holds a comma, which a model id may not (a key's model list is stored "
      "comma-separated)";
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"/admin/prices?limit=0", "limit", "limit must be a whole number from 1 to 100, got '0'"},
      {"/admin/prices?limit=101", "limit", "limit must be a whole number from 1 to 100, got '101'"},
      {"/admin/prices?limit=-1", "limit", "limit must be a whole number from 1 to 100, got '-1'"},
      {"/admin/prices?limit=x", "limit", "limit must be a whole number from 1 to 100, got 'x'"},
      {"/admin/prices?limit=", "limit", "limit must be a whole number from 1 to 100, got ''"},
      {"/admin/prices?limit=1e2", "limit", "limit must be a whole number from 1 to 100, got '1e2'"},
      {"/admin/prices?after=", "after",
       "after must be the model of a price of the list, got '': the model name is empty"},
      {"/admin/prices?after", "after",
       "after must be the model of a price of the list, got '': the model name is empty"},
      {"/admin/prices?after=a%2Cb", "after",
       "after must be the model of a price of the list, got 'a,b': " + comma},
      {"/admin/prices?after=x%27%2C%20OR%20%271%27%3D%271", "after",
       "after must be the model of a price of the list, got 'x', OR '1'='1': " + comma},
      {"/admin/prices?after=a%20", "after",
       "after must be the model of a price of the list, got 'a ': the model name begins or ends "
       "with a space, which a model id may not"},
      {"/admin/prices?after=" + std::string(201, 'a'), "after",
       "after must be the model of a price of the list, got '" + std::string(201, 'a') +
           "': the model name is longer than 200 bytes"},
      {"/admin/prices?after=a&after=b", "after", "the parameter 'after' is given twice"},
      {"/admin/prices?before=a", "before",
       "unknown parameter 'before' (the parameters are limit, after)"},
      {"/admin/prices?order=asc", "order",
       "unknown parameter 'order' (the parameters are limit, after)"},
      {"/admin/prices?after=%zz", "", "the query string has a malformed %-escape"},
  };
  for (const auto& [path, param, message] : cases)
    for (const std::string& key : {admin_, owner_}) {
      json body;
      ASSERT_EQ(status("GET", path, nullptr, key, &body), 400) << path << ": " << body.dump();
      EXPECT_EQ(body["error"]["param"], param.empty() ? json() : json(param)) << path;
      EXPECT_EQ(body["error"]["message"], message) << path;
    }
  // A price is set with a body; its query takes no parameters.
  json body;
  ASSERT_EQ(status("POST", "/admin/prices?limit=2",
                   {{"model", "qwen"}, {"input", 1}, {"output", 2}}, admin_, &body),
            400);
  EXPECT_EQ(body["error"]["message"], "POST /admin/prices takes no query parameters");
  EXPECT_FALSE(store_->price("qwen").value().has_value());
  EXPECT_EQ(audit_actions(), "");
}

TEST_F(AdminTest, AKeyOfOneTenantCanNeverReadListRevokeOrSpendForAnother) {
  // Lists: each owner sees its own tenant and its keys (no admin keys); the admin all.
  EXPECT_EQ(names("/admin/tenants", rival_owner_), std::vector<std::string>{"rival"});
  EXPECT_EQ(names("/admin/tenants", owner_), std::vector<std::string>{"acme"});
  EXPECT_EQ(names("/admin/tenants", admin_),
            (std::vector<std::string>{"default", "acme", "rival"}));
  EXPECT_EQ(names("/admin/keys", rival_owner_),
            (std::vector<std::string>{"rival-owner", "rival-bot"}));
  EXPECT_EQ(names("/admin/keys", owner_),
            (std::vector<std::string>{"acme-owner", "acme-member", "acme-bot"}));
  EXPECT_EQ(names("/admin/keys", admin_).size(), 8u);

  // The rival owner cannot touch acme's keys, nor its admin key, nor make keys there.
  for (const char* name : {"acme-bot", "acme-owner", "acme-admin"}) {
    const std::string path = "/admin/keys/" + std::to_string(ids_[name]);
    EXPECT_EQ(status("GET", path, nullptr, rival_owner_), 404) << name;
    EXPECT_EQ(status("PATCH", path, {{"rpm", 0}}, rival_owner_), 404) << name;
    EXPECT_EQ(status("DELETE", path, nullptr, rival_owner_), 404) << name;
  }
  // The acme owner cannot revoke its tenant's admin key either, nor create admin keys.
  EXPECT_EQ(status("DELETE", "/admin/keys/" + std::to_string(ids_["acme-admin"]), nullptr, owner_),
            404);
  json body;
  EXPECT_EQ(status("POST", "/admin/keys", {{"name", "x"}, {"role", "admin"}}, owner_, &body), 403);
  EXPECT_EQ(body["error"]["code"], "permission_denied");
  // A key made by the rival owner lands in rival, whatever it asks for.
  EXPECT_EQ(
      status("POST", "/admin/keys", {{"name", "spy"}, {"tenant", "acme"}}, rival_owner_, &body),
      400);
  EXPECT_EQ(body["error"]["param"], "tenant");
  ASSERT_EQ(status("POST", "/admin/keys", {{"name", "spy"}}, rival_owner_, &body), 201);
  EXPECT_EQ(body["tenant_id"], rival_);
  // Spending: a key's requests are billed to its own tenant; its usage shows no other tenant.
  const std::string spy = body["key"];
  ASSERT_EQ(status("POST", "/v1/completions",
                   {{"model", "stories"}, {"prompt", "a"}, {"max_tokens", 1}}, spy),
            200);
  auto ledger = wait_for_rows(1);
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0].tenant_id, rival_);
  EXPECT_EQ(status("GET", "/v1/usage?group_by=tenant", nullptr, rival_owner_, &body), 200);
  ASSERT_EQ(body["data"].size(), 1u);
  EXPECT_EQ(body["data"][0]["tenant_name"], "rival");
  // Nothing of acme changed.
  EXPECT_EQ(audit_actions(), "key:rival-owner key.create spy\n");
}

TEST_F(AdminTest, BadInputIs400NamingTheFieldAndWritesNothing) {
  const std::string sql = "x'); DROP TABLE tenants; --";
  struct Case {
    std::string path;
    std::string body;
    std::string param;  // "" for a body that is not a JSON object
  };
  const Case cases[] = {
      {"/admin/tenants", "not json", ""},
      {"/admin/tenants", "[1]", ""},
      {"/admin/tenants", "{}", "name"},
      {"/admin/tenants", json{{"name", sql}}.dump(), "name"},
      {"/admin/tenants", json{{"name", "=cmd|calc"}}.dump(), "name"},
      {"/admin/tenants", json{{"name", "a\nb"}}.dump(), "name"},
      {"/admin/tenants", json{{"name", 5}}.dump(), "name"},
      {"/admin/tenants", json{{"name", "ok"}, {"budget_usd", "-1"}}.dump(), "budget_usd"},
      {"/admin/tenants", json{{"name", "ok"}, {"budget_usd", -1}}.dump(), "budget_usd"},
      {"/admin/tenants", json{{"name", "ok"}, {"budget_usd", "1e3"}}.dump(), "budget_usd"},
      {"/admin/tenants", json{{"name", "ok"}, {"budget_usd", 0.0000001}}.dump(), "budget_usd"},
      {"/admin/tenants", json{{"name", "ok"}, {"budget_period", "week"}}.dump(), "budget_period"},
      {"/admin/tenants", json{{"name", "ok"}, {"rpm", -1}}.dump(), "rpm"},
      {"/admin/tenants", json{{"name", "ok"}, {"rpm", 1.5}}.dump(), "rpm"},
      {"/admin/tenants", json{{"name", "ok"}, {"tpm", "10"}}.dump(), "tpm"},
      {"/admin/tenants", json{{"name", "ok"}, {"tpm", 1e18}}.dump(), "tpm"},
      {"/admin/tenants", json{{"name", "ok"}, {"owner", "me"}}.dump(), "owner"},
      {"/admin/keys", json{{"name", "k"}, {"tenant", "nope"}}.dump(), "tenant"},
      {"/admin/keys", json{{"name", "k"}, {"tenant", sql}}.dump(), "tenant"},
      {"/admin/keys", json{{"name", "k"}, {"role", "god"}}.dump(), "role"},
      {"/admin/keys", json{{"name", "k"}, {"models", {"a,b"}}}.dump(), "models"},
      {"/admin/keys", json{{"name", "k"}, {"models", "qwen"}}.dump(), "models"},
      {"/admin/keys", json{{"name", "k"}, {"expires_in_days", 0}}.dump(), "expires_in_days"},
      {"/admin/keys", json{{"name", "k"}, {"expires_in_days", 99999}}.dump(), "expires_in_days"},
      {"/admin/keys", json{{"name", "@SUM(A1)"}}.dump(), "name"},
      {"/admin/prices", json{{"model", "qwen"}, {"input", "-0.1"}, {"output", 1}}.dump(), "input"},
      {"/admin/prices", json{{"model", "qwen"}, {"input", 1}}.dump(), "output"},
      {"/admin/prices", json{{"model", "qwen"}, {"input", 1}, {"output", true}}.dump(), "output"},
      {"/admin/prices", json{{"model", "a,b"}, {"input", 1}, {"output", 1}}.dump(), "model"},
      {"/admin/prices", json{{"model", "a\u2028b"}, {"input", 1}, {"output", 1}}.dump(), "model"},
      {"/admin/prices",
       json{{"model", "qwen"}, {"input", 1}, {"output", 1}, {"cached_input", "1.0000001"}}.dump(),
       "cached_input"},
      {"/admin/prices",
       json{{"model", "qwen"}, {"input", "0.15"}, {"output", 1}, {"cached_input", "0.150001"}}
           .dump(),
       "cached_input"},
  };
  const size_t tenants = all_tenants(*store_)->size();
  const size_t keys = all_keys(*store_)->size();
  for (const Case& c : cases) {
    auto r = post_text(c.path, c.body, admin_);
    const json error = expect_error(r, 400, nullptr);
    if (c.param.empty())
      EXPECT_TRUE(error["param"].is_null()) << c.body;
    else
      EXPECT_EQ(error["param"], c.param) << c.body << ": " << error.dump();
    EXPECT_FALSE(error["message"].get<std::string>().empty());
  }
  // A field given twice is refused, never taken as its last value.
  for (const auto& [path, text, param] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"/admin/tenants", R"({"name":"a","name":"b"})", "name"},
           {"/admin/keys", R"({"name":"k","role":"member","rpm":1,"role":"admin"})", "role"},
           {"/admin/prices", R"({"model":"qwen","input":1,"output":1,"input":0})", "input"}}) {
    const json error = expect_error(post_text(path, text, admin_), 400, nullptr);
    EXPECT_EQ(error["type"], "invalid_request_error") << text;
    EXPECT_EQ(error["param"], param) << text;
    EXPECT_EQ(error["message"], "the field '" + param +
                                    "' is given twice in the request body (an object may give "
                                    "each field once)")
        << text;
  }
  json body;
  ASSERT_EQ(status("POST", "/admin/prices",
                   {{"model", "qwen"}, {"input", "0.15"}, {"cached_input", 0.3}, {"output", 1}},
                   admin_, &body),
            400);
  EXPECT_EQ(body["error"]["param"], "cached_input");
  EXPECT_EQ(body["error"]["message"],
            "the cached input price (0.3) is above the input price (0.15) (USD per 1M tokens); a "
            "cached prompt token costs at most an input token");
  EXPECT_EQ(status("PATCH", "/admin/tenants/" + std::to_string(acme_), {{"rpm", -5}}, admin_), 400);
  EXPECT_EQ(status("PATCH", "/admin/keys/" + std::to_string(ids_["acme-bot"]),
                   {{"budget_usd", "abc"}}, admin_),
            400);
  // A JSON number is a double: where its text is not an amount, the message says so (QA
  // 2026-12-07: it quoted 0.30000000000000004 for 0.3000000000000000444, unexplained).
  ASSERT_EQ(status("POST", "/admin/prices",
                   json::parse(R"({"model": "qwen", "input": 0.3000000000000000444, "output": 1})"),
                   admin_, &body),
            400);
  EXPECT_EQ(body["error"]["param"], "input");
  EXPECT_EQ(body["error"]["message"],
            "input '0.30000000000000004' has more than 6 decimals (the unit is one micro-dollar) "
            "(a JSON number is read as a double, whose text that is; give the amount as a "
            "string)");
  // A PATCH that changes nothing (QA 2026-12-07: 200, with an audit entry of a change).
  for (const std::string& path : {"/admin/tenants/" + std::to_string(acme_),
                                 "/admin/keys/" + std::to_string(ids_["acme-bot"])}) {
    ASSERT_EQ(status("PATCH", path, json::object(), admin_, &body), 400) << path;
    EXPECT_EQ(body["error"]["message"],
              "nothing to change: give budget_usd, budget_period, rpm or tpm");
  }
  // A budget_period that leaves no budget to apply to (QA: `keys update --budget-period` on a
  // key without a budget said it had updated it).
  for (const auto& [path, what] :
       {std::pair{"/admin/tenants/" + std::to_string(acme_), "tenant"},
        std::pair{"/admin/keys/" + std::to_string(ids_["acme-bot"]), "key"}})
    for (const json& patch :
         {json{{"budget_period", "day"}}, json{{"budget_usd", nullptr}, {"budget_period", "month"}},
          json{{"budget_period", "total"}, {"rpm", 5}}}) {
      ASSERT_EQ(status("PATCH", path, patch, admin_, &body), 400) << path << " " << patch;
      EXPECT_EQ(body["error"]["param"], "budget_period");
      EXPECT_EQ(body["error"]["message"], std::string("budget_period is the period of a budget, "
                                                      "and the ") +
                                              what + " would have none: give budget_usd too");
    }
  // So is one given when a key or a tenant is made.
  for (const auto& [path, what] :
       {std::pair{"/admin/tenants", "tenant"}, std::pair{"/admin/keys", "key"}}) {
    const json made = {{"name", "periodic"}, {"tenant", "acme"}, {"budget_period", "day"}};
    json create = made;
    if (std::string_view(what) == "tenant") create.erase("tenant");
    ASSERT_EQ(status("POST", path, create, admin_, &body), 400) << path;
    EXPECT_EQ(body["error"]["param"], "budget_period");
    EXPECT_EQ(body["error"]["message"], std::string("budget_period is the period of a budget, "
                                                    "and the ") +
                                            what + " would have none: give budget_usd too");
  }
  EXPECT_EQ(status("GET", "/admin/keys?tenant=1", nullptr, admin_), 400);
  EXPECT_EQ(status("GET", "/admin/tenants/999", nullptr, admin_), 404);
  EXPECT_EQ(status("PATCH", "/admin/keys/999", {{"rpm", 1}}, admin_), 404);
  EXPECT_EQ(all_tenants(*store_)->size(), tenants);
  EXPECT_EQ(all_keys(*store_)->size(), keys);
  EXPECT_TRUE(platform::testing::all_prices(*store_)->empty());
  EXPECT_EQ(audit_actions(), "");
  EXPECT_TRUE(rows().empty());
}

// expires_in_days has one rule (whole days, 1 to 36500) and one message for every bad value,
// the one `gengyun keys create --expires-in` prints (api::key_expiry); null is absent.
TEST_F(AdminTest, KeyExpiryHasOneRuleAndOneMessage) {
  const size_t keys = all_keys(*store_)->size();
  for (const json& days : {json(-1), json(0), json(36'501), json(1.5), json("30"), json(1e20),
                           json(18'446'744'073'709'551'615u)}) {
    auto r = post("/admin/keys", {{"name", "k"}, {"expires_in_days", days}}, admin_);
    const json error = expect_error(r, 400, nullptr);
    EXPECT_EQ(error["param"], "expires_in_days") << days;
    EXPECT_EQ(error["message"], "expires_in_days must be a whole number of days from 1 to 36500")
        << days;
  }
  EXPECT_EQ(all_keys(*store_)->size(), keys);
  const int64_t before_s = unix_time_us() / 1'000'000;
  auto r = post("/admin/keys", {{"name", "k"}, {"expires_in_days", 36'500}}, admin_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  const int64_t after_s = unix_time_us() / 1'000'000 + 1;
  const int64_t expires_at = json::parse(r->body)["expires_at"];
  constexpr int64_t kLongestS = int64_t{36'500} * 86'400;
  EXPECT_GE(expires_at, before_s + kLongestS);
  EXPECT_LE(expires_at, after_s + kLongestS);
}

// A key answered from the key cache is refused at the next request once revoked through the
// admin API.
TEST_F(AdminTest, AKeyRevokedThroughTheApiIsRefusedAtTheNextRequest) {
  ASSERT_EQ(status("GET", "/v1/models", nullptr, member_), 200);
  const uint64_t hits = store_->key_cache().stats().hits;
  ASSERT_EQ(status("GET", "/v1/models", nullptr, member_), 200);
  ASSERT_EQ(store_->key_cache().stats().hits, hits + 1);  // from the cache
  ASSERT_EQ(status("DELETE", "/admin/keys/" + std::to_string(ids_["acme-member"]), nullptr, owner_),
            200);
  json body;
  EXPECT_EQ(status("GET", "/v1/models", nullptr, member_, &body), 401);
  EXPECT_EQ(body["error"]["code"], "invalid_api_key");
}

// An owner cannot change its own key (an admin's limits on it hold), may still revoke it, and
// cannot change its tenant's limits; an admin changes any key, its own too.
TEST_F(AdminTest, AnOwnerCannotChangeItsOwnKey) {
  const platform::Limits capped{1'000'000, platform::BudgetPeriod::Day, 5, std::nullopt};
  const std::string lead = key({"acme-lead", "acme", Role::Owner, capped, {"stories"}});
  const int64_t lead_id = ids_["acme-lead"];
  const std::string own = "/admin/keys/" + std::to_string(lead_id);
  const std::string message =
      "an owner cannot change its own key's limits or models; an admin key can";
  // Lifting a limit, tightening one, an empty body: every change of its own key is refused.
  for (const json& patch : {json{{"budget_usd", nullptr}}, json{{"rpm", nullptr}, {"tpm", 5}},
                            json{{"rpm", 1}}, json::object()}) {
    json body;
    EXPECT_EQ(status("PATCH", own, patch, lead, &body), 403) << patch;
    EXPECT_EQ(body["error"]["code"], "permission_denied") << patch;
    EXPECT_EQ(body["error"]["type"], "invalid_request_error") << patch;
    EXPECT_EQ(body["error"]["message"], message) << patch;
  }
  // Also an owner whose key has no limits and no models.
  json body;
  EXPECT_EQ(status("PATCH", "/admin/keys/" + std::to_string(ids_["acme-owner"]), {{"rpm", 100}},
                   owner_, &body),
            403);
  EXPECT_EQ(body["error"]["message"], message);
  auto stored = store_->find_key(lead_id);
  ASSERT_TRUE(stored.ok() && stored.value());
  EXPECT_EQ((*stored)->limits.budget_micro_usd, 1'000'000);
  EXPECT_EQ((*stored)->limits.budget_period, platform::BudgetPeriod::Day);
  EXPECT_EQ((*stored)->limits.rpm, 5);
  EXPECT_EQ((*stored)->limits.tpm, std::nullopt);
  EXPECT_EQ((*stored)->models, std::vector<std::string>{"stories"});
  // Its tenant's limits are the admin's too: 403 and unchanged.
  ASSERT_TRUE(store_->set_tenant_limits(acme_, capped).ok());
  EXPECT_EQ(status("PATCH", "/admin/tenants/" + std::to_string(acme_), {{"budget_usd", nullptr}},
                   lead, &body),
            403);
  EXPECT_EQ(body["error"]["code"], "permission_denied");
  auto tenant = store_->find_tenant(acme_);
  ASSERT_TRUE(tenant.ok() && tenant.value());
  EXPECT_EQ((*tenant)->limits.budget_micro_usd, 1'000'000);
  EXPECT_EQ((*tenant)->limits.rpm, 5);
  EXPECT_EQ(audit_actions(), "");

  // An admin changes the owner's key, and its own.
  ASSERT_EQ(status("PATCH", own, {{"budget_usd", "2"}, {"rpm", nullptr}}, admin_, &body), 200)
      << body.dump();
  EXPECT_EQ(body["budget_usd"], "2");
  EXPECT_TRUE(body["rpm"].is_null());
  ASSERT_EQ(
      status("PATCH", "/admin/keys/" + std::to_string(ids_["root"]), {{"tpm", 9}}, admin_, &body),
      200)
      << body.dump();
  EXPECT_EQ(body["tpm"], 9);
  stored = store_->find_key(lead_id);
  ASSERT_TRUE(stored.ok() && stored.value());
  EXPECT_EQ((*stored)->limits.budget_micro_usd, 2'000'000);
  EXPECT_EQ((*stored)->limits.rpm, std::nullopt);

  // Revoking its own key only takes away: allowed, and the key is refused from then on.
  ASSERT_EQ(status("DELETE", own, nullptr, lead, &body), 200) << body.dump();
  EXPECT_FALSE(body["revoked_at"].is_null());
  EXPECT_EQ(status("GET", "/admin/keys", nullptr, lead), 401);
  EXPECT_EQ(audit_actions(),
            "key:root key.limits acme-lead\n"
            "key:root key.limits root\n"
            "key:acme-lead key.revoke acme-lead\n");
}

// A second owner key cannot lift the limits an admin set on the first (QA 2026-12-03): an owner
// changes member keys only. And an owner whose key expires makes keys that expire no later.
TEST_F(AdminTest, AnOwnerChangesMemberKeysOnlyAndItsKeysOutliveNotItsOwn) {
  const platform::Limits capped{1'000'000, platform::BudgetPeriod::Day, 5, std::nullopt};
  key({"acme-lead", "acme", Role::Owner, capped});
  const int64_t lead_id = ids_["acme-lead"];
  json body;
  EXPECT_EQ(status("PATCH", "/admin/keys/" + std::to_string(lead_id), {{"budget_usd", nullptr}},
                   owner_, &body),
            403);
  EXPECT_EQ(body["error"]["code"], "permission_denied");
  EXPECT_EQ(body["error"]["message"],
            "the API key " + std::to_string(lead_id) +
                " is an owner's: an owner changes the limits of member keys only (else a second "
                "owner key would lift the first's); an admin key can change it");
  auto stored = store_->find_key(lead_id);
  ASSERT_TRUE(stored.ok() && stored.value());
  EXPECT_EQ((*stored)->limits.budget_micro_usd, 1'000'000);
  ASSERT_EQ(status("PATCH", "/admin/keys/" + std::to_string(ids_["acme-member"]), {{"rpm", 7}},
                   owner_, &body),
            200)
      << body.dump();
  EXPECT_EQ(body["rpm"], 7);

  const int64_t in_three_days = unix_time_us() + int64_t{3} * 86'400'000'000;
  const std::string temp = key({"acme-temp", "acme", Role::Owner, {}, {}, in_three_days});
  const size_t keys = all_keys(*store_)->size();
  EXPECT_EQ(
      status("POST", "/admin/keys", {{"name", "longer"}, {"expires_in_days", 4}}, temp, &body),
      403);
  EXPECT_EQ(body["error"]["param"], "expires_in_days");
  EXPECT_EQ(body["error"]["message"],
            "this key expires at " + std::to_string(in_three_days / 1'000'000) +
                " (Unix seconds), and the keys an owner makes expire no later than its own: give "
                "expires_in_days up to the days it has left, or leave it out for a key that "
                "expires with this one");
  EXPECT_EQ(all_keys(*store_)->size(), keys);
  // Without expires_in_days its keys expire with it (QA 2026-12-07: they were refused, so an
  // owner with less than a day left could make none).
  for (const json& request : {json{{"name", "with-it"}}, json{{"name", "owner"}, {"role", "owner"}},
                              json{{"name", "null"}, {"expires_in_days", nullptr}}}) {
    ASSERT_EQ(status("POST", "/admin/keys", request, temp, &body), 201) << body.dump();
    EXPECT_EQ(body["expires_at"].get<int64_t>(), in_three_days / 1'000'000) << request;
  }
  ASSERT_EQ(status("POST", "/admin/keys", {{"name", "shorter"}, {"expires_in_days", 2}}, temp,
                   &body),
            201)
      << body.dump();
  EXPECT_LE(body["expires_at"].get<int64_t>(), in_three_days / 1'000'000);
  // An owner whose key never expires, and an admin, give any expiry or none.
  EXPECT_EQ(status("POST", "/admin/keys", {{"name", "open"}}, owner_), 201);
}

// The keys an owner makes or changes may use no model its own key may not; an owner whose key
// lists no models, and an admin, are not bound.
TEST_F(AdminTest, AnOwnersKeysAreNoWiderInModelsThanItsOwn) {
  const std::string lead = key({"acme-lead", "acme", Role::Owner, {}, {"stories", "qwen2-tiny"}});
  const size_t keys = all_keys(*store_)->size();
  const std::string required =
      "models is required: this key may use only stories, qwen2-tiny, and the keys an owner "
      "makes may use no model its own key may not (a key without models may use every model)";
  const auto outside = [](const std::string& models) {
    return "models lists " + models +
           ", which this key may not use: the keys an owner makes may use only models its own "
           "key may use (stories, qwen2-tiny)";
  };
  const std::vector<std::pair<json, std::string>> refused = {
      {{{"name", "m"}}, required},
      {{{"name", "m"}, {"models", json::array()}}, required},
      {{{"name", "m"}, {"role", "owner"}}, required},
      {{{"name", "m"}, {"models", {"stories", "qwen3-embed-tiny", "x", "x"}}},
       outside("qwen3-embed-tiny, x")},
      {{{"name", "m"},
        {"role", "owner"},
        {"models", {"qwen2-tiny", "stories", "qwen3-embed-tiny"}}},
       outside("qwen3-embed-tiny")},
  };
  for (const auto& [request, message] : refused) {
    json body;
    EXPECT_EQ(status("POST", "/admin/keys", request, lead, &body), 403) << request;
    EXPECT_EQ(body["error"]["code"], "permission_denied") << request;
    EXPECT_EQ(body["error"]["param"], "models") << request;
    EXPECT_EQ(body["error"]["message"], message) << request;
  }
  EXPECT_EQ(all_keys(*store_)->size(), keys);

  // A subset, or the whole list, is made.
  json body;
  ASSERT_EQ(status("POST", "/admin/keys", {{"name", "m1"}, {"models", {"stories"}}}, lead, &body),
            201)
      << body.dump();
  EXPECT_EQ(body["models"], json({"stories"}));
  const int64_t m1 = body["id"];
  ASSERT_EQ(status("POST", "/admin/keys",
                   {{"name", "o1"}, {"role", "owner"}, {"models", {"qwen2-tiny", "stories"}}}, lead,
                   &body),
            201)
      << body.dump();
  EXPECT_EQ(body["models"], json({"qwen2-tiny", "stories"}));
  // Its keys' limits it changes.
  ASSERT_EQ(status("PATCH", "/admin/keys/" + std::to_string(m1), {{"rpm", 9}}, lead, &body), 200)
      << body.dump();
  EXPECT_EQ(body["rpm"], 9);

  // Keys wider than its own (made by an admin) it cannot change: every model, or one more.
  key({"acme-wide", "acme", Role::Member, {}, {"stories", "qwen3-embed-tiny"}});
  const auto wider = [](int64_t id, const std::string& models) {
    return "the API key " + std::to_string(id) + " may use " + models +
           ", which this key may not: an owner changes only keys that may use no model its own "
           "key may not (stories, qwen2-tiny); an admin key can change it";
  };
  for (const auto& [name, message] :
       {std::pair<std::string, std::string>{"acme-bot", wider(ids_["acme-bot"], "every model")},
        {"acme-wide", wider(ids_["acme-wide"], "qwen3-embed-tiny")}}) {
    const std::string path = "/admin/keys/" + std::to_string(ids_[name]);
    EXPECT_EQ(status("PATCH", path, {{"budget_usd", "1"}}, lead, &body), 403) << name;
    EXPECT_EQ(body["error"]["code"], "permission_denied") << name;
    EXPECT_EQ(body["error"]["message"], message) << name;
    auto stored = store_->find_key(ids_[name]);
    ASSERT_TRUE(stored.ok() && stored.value());
    EXPECT_EQ((*stored)->limits.budget_micro_usd, std::nullopt) << name;
  }
  // PATCH never changes models, so an update cannot widen a key either.
  EXPECT_EQ(status("PATCH", "/admin/keys/" + std::to_string(m1),
                   {{"models", {"stories", "qwen3-embed-tiny"}}}, lead, &body),
            400);
  EXPECT_EQ(body["error"]["param"], "models");
  // Revoking a wider key only takes away: allowed.
  ASSERT_EQ(status("DELETE", "/admin/keys/" + std::to_string(ids_["acme-wide"]), nullptr, lead),
            200);

  // An owner whose key lists no models, and an admin, give any models or none.
  ASSERT_EQ(status("POST", "/admin/keys", {{"name", "free"}}, owner_, &body), 201) << body.dump();
  EXPECT_EQ(body["models"], json::array());
  ASSERT_EQ(status("PATCH", "/admin/keys/" + std::to_string(ids_["acme-bot"]), {{"rpm", 3}}, admin_,
                   &body),
            200)
      << body.dump();
  EXPECT_EQ(audit_actions(),
            "key:acme-lead key.create m1\n"
            "key:acme-lead key.create o1\n"
            "key:acme-lead key.limits m1\n"
            "key:acme-lead key.revoke acme-wide\n"
            "key:acme-owner key.create free\n"
            "key:root key.limits acme-bot\n");
}

TEST_F(AdminTest, TenantsKeysLimitsPricesAndTheAuditLogRoundTrip) {
  json body;
  ASSERT_EQ(status("POST", "/admin/tenants",
                   {{"name", "newco"}, {"budget_usd", "2.5"}, {"budget_period", "day"}, {"rpm", 3}},
                   admin_, &body),
            201);
  EXPECT_EQ(body["object"], "tenant");
  EXPECT_EQ(body["name"], "newco");
  EXPECT_EQ(body["budget_usd"], "2.5");
  EXPECT_EQ(body["budget_period"], "day");
  EXPECT_EQ(body["rpm"], 3);
  EXPECT_TRUE(body["tpm"].is_null());
  const int64_t newco = body["id"];
  EXPECT_EQ(status("POST", "/admin/tenants", {{"name", "newco"}}, admin_, &body), 409);

  ASSERT_EQ(status("PATCH", "/admin/tenants/" + std::to_string(newco),
                   {{"budget_usd", nullptr}, {"tpm", 1000}}, admin_, &body),
            200);
  EXPECT_TRUE(body["budget_usd"].is_null());
  // The budget's period went with it: a later budget_usd alone is not silently per day.
  EXPECT_EQ(body["budget_period"], "total");
  EXPECT_EQ(body["rpm"], 3);
  EXPECT_EQ(body["tpm"], 1000);

  ASSERT_EQ(status("POST", "/admin/keys",
                   {{"name", "newco-owner"},
                    {"tenant", "newco"},
                    {"role", "owner"},
                    {"models", {"stories"}},
                    {"expires_in_days", 30},
                    {"budget_usd", 1}},
                   admin_, &body),
            201);
  const std::string secret = body["key"];
  EXPECT_EQ(secret.substr(0, 8), body["prefix"]);
  EXPECT_EQ(body["role"], "owner");
  EXPECT_EQ(body["tenant_id"], newco);
  EXPECT_EQ(body["models"], json({"stories"}));
  EXPECT_EQ(body["budget_usd"], "1");
  EXPECT_GT(body["expires_at"].get<int64_t>(), body["created_at"].get<int64_t>() + 29 * 86400);
  const int64_t id = body["id"];
  // The secret is shown once: neither the list nor the key's page has it.
  ASSERT_EQ(status("GET", "/admin/keys/" + std::to_string(id), nullptr, secret, &body), 200);
  EXPECT_FALSE(body.contains("key"));
  EXPECT_EQ(body["name"], "newco-owner");
  EXPECT_EQ(status("GET", "/admin/keys", nullptr, admin_, &body), 200);
  EXPECT_EQ(body.dump().find(secret), std::string::npos);

  ASSERT_EQ(status("POST", "/admin/prices",
                   {{"model", "stories"}, {"input", "0.15"}, {"output", 0.6}}, admin_, &body),
            200);
  EXPECT_EQ(status("GET", "/admin/prices", nullptr, secret, &body), 200);
  EXPECT_EQ(body["data"], json::parse(R"([{"object":"price","model":"stories","input":"0.15",
      "cached_input":"0.15","output":"0.6"}])"));
  EXPECT_EQ(store_->price("stories").value()->output, 600'000);

  ASSERT_EQ(status("DELETE", "/admin/keys/" + std::to_string(id), nullptr, admin_, &body), 200);
  EXPECT_FALSE(body["revoked_at"].is_null());
  EXPECT_EQ(status("GET", "/admin/keys", nullptr, secret), 401);

  ASSERT_EQ(status("GET", "/admin/audit", nullptr, admin_, &body), 200);
  std::vector<std::string> actions;
  json api_entries = json::array();
  for (const json& e : body["data"])
    if (e["actor"] != "cli") api_entries.push_back(e);
  for (const json& e : api_entries) {
    EXPECT_EQ(e["actor"], "key:root");
    EXPECT_EQ(e["actor_key_id"], ids_["root"]);
    actions.push_back(e["action"].get<std::string>() + " " + e["target"].get<std::string>());
  }
  EXPECT_EQ(actions, (std::vector<std::string>{"tenant.create newco", "tenant.limits newco",
                                               "key.create newco-owner", "price.set stories",
                                               "key.revoke newco-owner"}));
  EXPECT_EQ(api_entries[1]["detail"], "rpm=3 tpm=1000");
}

}  // namespace
}  // namespace gengyun::api::testing
