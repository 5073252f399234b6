#pragma once
// What ovserve-bench writes about a run: the JSON object of a run (with
// vLLM's `bench serve` key names for the figures they share, so scripts
// written for its results read ours), the table on stdout and the per-request
// CSV rows. Pure functions over plain data.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "benchmarks/arrival_schedule.h"
#include "benchmarks/bench_metrics.h"
#include "nlohmann/json.hpp"

namespace ovserve::bench {

struct RunReport {
  std::string name;  // "rate=inf concurrency=4"
  double request_rate = 0;
  ArrivalMode arrival = ArrivalMode::kPoisson;
  int64_t max_concurrency = 0;  // 0 = unlimited
  int64_t num_prompts = 0;      // requests prepared for the run
  int64_t not_sent = 0;         // cut by the duration bound
  double prepare_s = 0;         // building the requests (not measured)
  RunMetrics metrics;
  // Per workload, when the run mixed several.
  std::map<std::string, RunMetrics> per_workload;
  std::vector<RequestTimeline> timelines;
};

// Fills metrics and per_workload from timelines.
void ComputeReport(RunReport& report, double duration_s, const Slo& slo);

nlohmann::json SummaryToJson(const Summary& s);
nlohmann::json RunToJson(const RunReport& report, const Slo& slo);

// The human-readable block of one run (vLLM's layout, plus the vision tokens
// and failures by status).
std::string FormatRunTable(const RunReport& report, const Slo& slo);

// One line per run: the figures the README's tables use.
std::string FormatSweepTable(const std::vector<RunReport>& reports);

// Per-request CSV: the header line, then one line per request of a run.
std::string CsvHeader();
std::string CsvRows(const RunReport& report, int run_index);

}  // namespace ovserve::bench
