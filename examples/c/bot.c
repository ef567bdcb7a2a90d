/* A bot's message loop against the feature-flag C ABI: open the flag file,
 * resolve hot flags to handles once, then for each incoming message ask by
 * name, by handle and for every flag at once, all from one version of the
 * file. Checks its own results and exits non-zero on any mismatch.
 *
 * Build and run: see Makefile (make run) or docs/bots.md "C". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feature_flags.h"

#define FLAG_COUNT_MAX 64

static int failures = 0;

static const char *status_name(ff_status status) {
  switch (status) {
  case FF_OK: return "FF_OK";
  case FF_NULL_ARGUMENT: return "FF_NULL_ARGUMENT";
  case FF_INVALID_UTF8: return "FF_INVALID_UTF8";
  case FF_INVALID_ARGUMENT: return "FF_INVALID_ARGUMENT";
  case FF_FILE_ERROR: return "FF_FILE_ERROR";
  case FF_INVALID_FILE: return "FF_INVALID_FILE";
  case FF_CLOSED: return "FF_CLOSED";
  case FF_BUFFER_TOO_SMALL: return "FF_BUFFER_TOO_SMALL";
  case FF_NO_FILE: return "FF_NO_FILE";
  case FF_PANIC: return "FF_PANIC";
  case FF_UNKNOWN_FLAG: return "FF_UNKNOWN_FLAG";
  default: return "unknown status";
  }
}

static bool starts_with(const char *text, const char *prefix) {
  return strncmp(text, prefix, strlen(prefix)) == 0;
}

static const char *reason_name(uint8_t reason) {
  static const char *const names[] = {"unknown_flag", "disabled", "chat_excluded", "chat_type",
                                      "group",        "rollout",  "missing_key"};
  return reason < sizeof names / sizeof names[0] ? names[reason] : "?";
}

/* Prints the last error of this thread (and frees the copy). */
static void print_last_error(const char *what, ff_status status) {
  char *text = ff_last_error();
  printf("%s: %s (%s)\n", what, status_name(status), text ? text : "no error text");
  ff_string_free(text);
}

/* Checks a call's status; prints the error text a failing call left. */
static void expect_status(const char *what, ff_status got, ff_status want) {
  if (got != want) {
    printf("FAILED %s: got %s, want %s\n", what, status_name(got), status_name(want));
    failures++;
  } else if (got != FF_OK) {
    print_last_error(what, got);
  } else {
    printf("%s: FF_OK\n", what);
  }
}

struct message {
  const char *label;
  ff_context ctx;
};

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s FLAG_FILE\n", argv[0]);
    return 2;
  }

  ff_store *store = NULL;
  ff_status status = ff_store_open(argv[1], 0, &store);
  if (status != FF_OK) {
    print_last_error("open", status);
    return 1;
  }

  uint64_t generation = 0, fingerprint = 0;
  char *names = NULL;
  if ((status = ff_store_fingerprint(store, &fingerprint)) != FF_OK ||
      (status = ff_store_flag_names(store, &names, &generation)) != FF_OK) {
    print_last_error("store info", status);
    return 1;
  }
  printf("flags-ffi %s, generation %" PRIu64 ", fingerprint %016" PRIx64 "\n", ff_version(),
         generation, fingerprint);

  /* Split the '\n'-separated names; resolve each to a handle once. */
  const char *flag[FLAG_COUNT_MAX];
  uint32_t handle[FLAG_COUNT_MAX];
  size_t flag_count = 0;
  for (char *name = strtok(names, "\n"); name && flag_count < FLAG_COUNT_MAX;
       name = strtok(NULL, "\n")) {
    flag[flag_count] = name;
    status = ff_store_handle(store, name, strlen(name), &handle[flag_count]);
    if (status != FF_OK) {
      print_last_error("handle", status);
      return 1;
    }
    flag_count++;
  }
  printf("flags:");
  for (size_t i = 0; i < flag_count; i++) printf(" %s", flag[i]);
  printf("\n");

  const ff_str beta[] = {{"beta_testers", 12}};
  const struct message messages[] = {
      {"beta tester in private",
       {111111111, 111111111, FF_HAS_USER_ID | FF_HAS_CHAT_ID, FF_CHAT_TYPE_PRIVATE, NULL, 0}},
      {"user in an excluded supergroup",
       {42, -1001234567890, FF_HAS_USER_ID | FF_HAS_CHAT_ID, FF_CHAT_TYPE_SUPERGROUP, NULL, 0}},
      {"user named a beta tester by the bot",
       {7, 7, FF_HAS_USER_ID | FF_HAS_CHAT_ID, FF_CHAT_TYPE_PRIVATE, beta, 1}},
      {"group chat in the video rollout",
       {42, -100101, FF_HAS_USER_ID | FF_HAS_CHAT_ID, FF_CHAT_TYPE_GROUP, NULL, 0}},
      {"channel post, no user", {0, -100555, FF_HAS_CHAT_ID, FF_CHAT_TYPE_CHANNEL, NULL, 0}},
  };

  for (size_t m = 0; m < sizeof messages / sizeof messages[0]; m++) {
    const ff_context *ctx = &messages[m].ctx;
    printf("message %zu: %s\n", m + 1, messages[m].label);

    /* Every flag at once: one call, one version of the file. */
    uint64_t bits[1];
    size_t count = 0;
    uint64_t bits_generation = 0;
    status = ff_store_evaluate_all(store, ctx, bits, 1, &count, &bits_generation);
    if (status != FF_OK || count != flag_count) {
      print_last_error("evaluate_all", status);
      failures++;
      continue;
    }

    /* The hot flags by handle, also in one call. */
    ff_decision by_handle[FLAG_COUNT_MAX];
    status = ff_store_evaluate_handles(store, handle, flag_count, ctx, by_handle);
    if (status != FF_OK) {
      print_last_error("evaluate_handles", status);
      failures++;
      continue;
    }

    for (size_t i = 0; i < flag_count; i++) {
      ff_decision by_name;
      status = ff_store_evaluate(store, flag[i], strlen(flag[i]), ctx, &by_name);
      if (status != FF_OK) {
        print_last_error("evaluate", status);
        failures++;
        continue;
      }
      int bit = (int)((bits[i / 64] >> (i % 64)) & 1);
      int agree = by_name.enabled == by_handle[i].enabled &&
                  by_name.reason == by_handle[i].reason &&
                  by_name.bucket == by_handle[i].bucket && bit == by_name.enabled;
      if (!agree) failures++;
      printf("  %-24s %-3s %s", flag[i], by_name.enabled ? "on" : "off",
             reason_name(by_name.reason));
      if (by_name.has_bucket) printf(" bucket %" PRIu32, by_name.bucket);
      printf("%s\n", agree ? "" : "  MISMATCH between name, handle and bits");
    }
  }

  /* Outcomes: one reusable message object per worker. Begin it for each
   * message, ask through it (that exposes the flags asked), then record how
   * handling went, once. */
  ff_message *msg = NULL;
  if ((status = ff_message_new(&msg)) != FF_OK) {
    print_last_error("message_new", status);
    return 1;
  }
  for (size_t m = 0; m < sizeof messages / sizeof messages[0]; m++) {
    const ff_context *ctx = &messages[m].ctx;
    bool gpt = false;
    bool recorded = false;
    if ((status = ff_message_begin(msg, store, NULL)) != FF_OK ||
        (status = ff_message_is_enabled(msg, "new_gpt_model", 13, ctx, false, &gpt)) != FF_OK ||
        (status = ff_message_record(msg, false, gpt ? 0.8 : 0.3, &recorded)) != FF_OK ||
        !recorded) {
      print_last_error("message outcome", status);
      failures++;
    }
  }
  bool again = true;
  expect_status("second record of one message", ff_message_record(msg, true, 1.0, &again), FF_OK);
  if (again) failures++;
  expect_status("negative seconds", ff_message_record(msg, false, -1.0, NULL), FF_INVALID_ARGUMENT);
  ff_message_free(msg);
  expect_status("complaint", ff_store_complaint(store, "new_gpt_model", 13), FF_OK);
  expect_status("complaint about an unknown flag", ff_store_complaint(store, "new_gpt_modle", 13),
                FF_UNKNOWN_FLAG);
  char *metrics = NULL;
  if ((status = ff_store_metrics_text(store, &metrics)) != FF_OK) {
    print_last_error("metrics_text", status);
    failures++;
  } else {
    /* Print the outcome counters that counted something: one line per
     * segment (cohort, via, chat type) and result; the others are at 0. */
    for (char *line = strtok(metrics, "\n"); line; line = strtok(NULL, "\n")) {
      size_t len = strlen(line);
      bool zero = len >= 2 && strcmp(line + len - 2, " 0") == 0;
      if ((starts_with(line, "feature_flags_outcomes_total{flag=\"new_gpt_model\"") && !zero) ||
          starts_with(line, "feature_flags_complaints_total{flag=\"new_gpt_model\"")) {
        printf("%s\n", line);
      }
    }
    ff_string_free(metrics);
  }

  /* Bad arguments get a status and a text, never a crash. */
  ff_decision decision;
  ff_context bad_chat_type = messages[0].ctx;
  bad_chat_type.chat_type = 9;
  expect_status("bad chat type", ff_store_evaluate(store, "new_gpt_model", 13, &bad_chat_type, &decision),
                FF_INVALID_ARGUMENT);
  expect_status("NULL name", ff_store_evaluate(store, NULL, 0, &messages[0].ctx, &decision),
                FF_NULL_ARGUMENT);
  expect_status("name not UTF-8", ff_store_evaluate(store, "\xff", 1, &messages[0].ctx, &decision),
                FF_INVALID_UTF8);
  expect_status("unknown handle", ff_store_evaluate_handle(store, 1000, &messages[0].ctx, &decision),
                FF_INVALID_ARGUMENT);
  expect_status("reload of an unchanged file", ff_store_reload(store), FF_OK);

  bool unknown_default = false;
  expect_status("is_enabled of an unknown flag",
                ff_store_is_enabled(store, "no_such_flag", 12, &messages[0].ctx, true,
                                    &unknown_default),
                FF_OK);
  printf("no_such_flag with default true: %s\n", unknown_default ? "on" : "off");

  expect_status("close", ff_store_close(store), FF_OK);
  expect_status("evaluate after close",
                ff_store_evaluate(store, "new_gpt_model", 13, &messages[0].ctx, &decision), FF_CLOSED);
  ff_store_free(store);
  ff_string_free(names);

  printf("%s\n", failures == 0 ? "all checks passed" : "SOME CHECKS FAILED");
  return failures == 0 ? 0 : 1;
}
