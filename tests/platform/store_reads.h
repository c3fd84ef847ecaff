// Whole-table reads for tests: every tenant, key, price or audit entry of a store, read
// through the paged reads the product uses (Store::tenants_page, keys_page, prices_page,
// audit_page) until a page comes back short.
#pragma once

#include <vector>

#include "gengyun/result.h"
#include "platform/store.h"

namespace gengyun::platform::testing {

/// Every tenant of `store`, by id. Errors: the store's.
inline Result<std::vector<TenantInfo>> all_tenants(Store& store) {
  std::vector<TenantInfo> all;
  for (Page page{0, 100};;) {
    auto tenants = store.tenants_page(page);
    if (!tenants) return tenants.error();
    all.insert(all.end(), tenants->begin(), tenants->end());
    if (static_cast<int64_t>(tenants->size()) < page.limit) return all;
    page.after_id = tenants->back().id;
  }
}

/// Every key of `store`, active and revoked, of every tenant, by id. Errors: the store's.
inline Result<std::vector<KeyInfo>> all_keys(Store& store) {
  std::vector<KeyInfo> all;
  for (KeyPage query{{0, 100}, std::nullopt, true};;) {
    auto keys = store.keys_page(query);
    if (!keys) return keys.error();
    all.insert(all.end(), keys->begin(), keys->end());
    if (static_cast<int64_t>(keys->size()) < query.page.limit) return all;
    query.page.after_id = keys->back().id;
  }
}

/// Every model's prices in `store`, by model name (bytes). Errors: the store's.
inline Result<std::vector<ModelPrice>> all_prices(Store& store) {
  std::vector<ModelPrice> all;
  for (PricePage page{"", 100};;) {
    auto prices = store.prices_page(page);
    if (!prices) return prices.error();
    all.insert(all.end(), prices->begin(), prices->end());
    if (static_cast<int64_t>(prices->size()) < page.limit) return all;
    page.after_model = prices->back().model;
  }
}

/// The whole audit log of `store`, oldest first. Errors: the store's.
inline Result<std::vector<AuditEntry>> all_audit_entries(Store& store) {
  std::vector<AuditEntry> all;
  for (Page page{0, 100};;) {
    auto entries = store.audit_page(page);
    if (!entries) return entries.error();
    all.insert(all.end(), entries->begin(), entries->end());
    if (static_cast<int64_t>(entries->size()) < page.limit) return all;
    page.after_id = entries->back().id;
  }
}

}  // namespace gengyun::platform::testing
