// The step loop shared by the discrete-time engines (GD, ERM, online SGD): which steps are
// taken, where records are written, when a run stops and what its result then says. The
// engines differ only in what one step does; that lives in an engine policy object.
// Step k is time t = k lr (model page: Time and steps).
//
// The loop, for steps k = step0 + 1 .. step_end:
//
//   record step0 (if requested)
//   for each step k of the budget:
//       outcome = engine.advance(k)                 take step k
//       if the step is a sync point                 a record, a progress check or the end:
//           outcome = engine.flush(k)               make w the state after k steps
//       if outcome says diverged: stop              status kDiverged
//       if k is a record step: engine.record(row, k)
//       if the hook is due and returns false: stop  status kInterrupted
//   a std::domain_error from the pair: stop         status kOutOfDomain
//
// The engine policy provides (E an engine, k a step index, row a record row):
//
//   StepOutcome E::advance(long long k)
//       Step k, from the state after k - 1 steps. An engine may defer part of the step (online
//       SGD fuses the update of step k into the sweep of step k + 1), so after advance the
//       caller's w may still hold an earlier state; flush brings it up to date. Returns
//       StepOutcome::taken(k), or StepOutcome::diverged_at(j) with j the step whose state the
//       engine found diverged (k, or k - 1 for a deferred state caught one step late).
//   StepOutcome E::flush(long long k)
//       Called after a taken step k that is a sync point: a record step, a progress check
//       (hook set, progress_every > 0, (k - step0) divisible by it) or step_end. Leaves the
//       state after k steps in w and checks what an engine checks only there (SGD: s against
//       the divergence limit, which costs a pass the fused sweep avoids). Engines that check
//       every step in advance return StepOutcome::taken(k).
//   void E::record(std::size_t row, long long k)
//       Writes record row `row` for the state after k steps (w is current: k is step0 or a
//       flushed step).
//
// Result bookkeeping (StepLoopResult) is done here only: last_step is the step index of the
// state left in w (the outcome's step when a run diverges), diverged_at_step the outcome's
// step (else -1), records_written the rows of record_steps that now hold a record (rows for
// steps before step0 belong to the run being resumed and count as written).
#pragma once

#include <cstddef>
#include <stdexcept>

#include "../model/stats.hpp"
#include "../util/progress.hpp"

namespace pyscale {

// What one step (or flush) reports to the loop.
class StepOutcome {
public:
    static StepOutcome taken(long long step) { return StepOutcome(step, false); }
    static StepOutcome diverged_at(long long step) { return StepOutcome(step, true); }
    long long step() const { return step_; }  // the step index of the state concerned
    bool diverged() const { return diverged_; }

private:
    StepOutcome(long long step, bool diverged) : step_(step), diverged_(diverged) {}
    long long step_;
    bool diverged_;
};

struct StepLoopResult {
    RunStatus status = RunStatus::kCompleted;
    long long last_step = 0;  // step index of the state left in w
    long long diverged_at_step = -1;
    std::size_t records_written = 0;
};

// Where a run starts and ends, what it records and how it reports progress.
struct StepSchedule {
    long long step0 = 0;     // index of the state the run starts from
    long long step_end = 0;  // last step taken (>= step0)
    const long long* record_steps = nullptr;  // increasing; those in [step0, step_end] recorded
    std::size_t n_records = 0;
    double time_per_step = 0.0;       // lr: the hook is told t = k * time_per_step
    long long progress_every = 4096;  // steps between hook calls (<= 0: never)
};

namespace detail {

// The steps of run_step_loop, from step0 + 1 on (res.last_step tracks the state in w).
template <class Engine>
void take_steps(Engine& engine, const StepSchedule& schedule, const ProgressHook& hook,
                RecordCursor& rec, StepLoopResult& res) {
    const long long step0 = schedule.step0;
    const long long every = schedule.progress_every;
    for (long long k = step0 + 1; k <= schedule.step_end; ++k) {
        const bool record = rec.due(k);
        const bool check = hook && every > 0 && (k - step0) % every == 0;
        StepOutcome outcome = engine.advance(k);
        if (!outcome.diverged() && (record || check || k == schedule.step_end))
            outcome = engine.flush(k);
        res.last_step = outcome.step();
        if (outcome.diverged()) {
            res.status = RunStatus::kDiverged;
            res.diverged_at_step = outcome.step();
            return;
        }
        if (record) {
            engine.record(rec.row(), k);
            rec.advance();
        }
        if (check && !hook(static_cast<double>(k) * schedule.time_per_step, k - step0)) {
            res.status = RunStatus::kInterrupted;
            return;
        }
    }
}

}  // namespace detail

// Runs the loop above on `engine` (see the header comment for the policy it must provide).
// A std::domain_error from the pair (link_pair.hpp: the state left its domain) ends the run
// with status kOutOfDomain: last_step is then the step of the state in w (a step's hooks run
// before it changes w, a record after), and the record being written is not counted.
template <class Engine>
StepLoopResult run_step_loop(Engine& engine, const StepSchedule& schedule,
                             const ProgressHook& hook) {
    StepLoopResult res;
    res.last_step = schedule.step0;
    RecordCursor rec(schedule.record_steps, schedule.n_records, schedule.step0);
    try {
        if (rec.due(schedule.step0)) {
            engine.record(rec.row(), schedule.step0);
            rec.advance();
        }
        detail::take_steps(engine, schedule, hook, rec, res);
    } catch (const std::domain_error&) {
        res.status = RunStatus::kOutOfDomain;
    }
    res.records_written = rec.written();
    return res;
}

}  // namespace pyscale
