// A program built against the pyscale package: runs the gradient flow and gradient descent
// on a small explicit problem and prints one number per line, `name value`.
//
// The problem (model page: Data model), for i = 0 .. 63:
//   lambda_i = (i + 1)^-1.5,   w*_i = cos(0.5 i),   w(0)_i = 0.1 sin(i + 1).
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include <pyscale/pyscale.hpp>

int main() {
    const std::size_t d = 64;
    std::vector<double> lambda(d), w_star(d), w0(d);
    for (std::size_t i = 0; i < d; ++i) {
        lambda[i] = std::pow(double(i + 1), -1.5);
        w_star[i] = std::cos(0.5 * double(i));
        w0[i] = 0.1 * std::sin(double(i + 1));
    }
    try {
        // A view over our arrays (nothing copied): they must outlive every run.
        const pyscale::ProblemView problem =
            pyscale::make_problem_view(d, lambda.data(), w_star.data(), double(d));
        std::printf("s_star %.17g\n", problem.s_star);
        // The link pair every engine takes: phase retrieval, y = (x.w*)^2.
        const pyscale::SquarePair pair;

        // The flow to t = 1 and t = 10 (records at both), in place on a copy of w(0).
        std::vector<double> w = w0;
        const double times[] = {1.0, 10.0};
        double flow_rec[2 * pyscale::kRecordWidth];
        pyscale::FlowOptions flow_opt;
        flow_opt.rtol = 1e-10;
        const pyscale::FlowResult flow =
            pyscale::run_flow(problem, pair, w.data(), 0.0, times, 2, flow_rec, flow_opt);
        std::printf("flow_status %s\n", pyscale::status_name(flow.status));
        std::printf("flow_u_t10 %.17g\n", flow_rec[pyscale::kRecordWidth + pyscale::kU]);
        std::printf("flow_s_t10 %.17g\n", flow_rec[pyscale::kRecordWidth + pyscale::kS]);

        // 500 steps of gradient descent at lr = 0.05 (t = 25), one record at the end.
        w = w0;
        const long long last[] = {500};
        double gd_rec[pyscale::kRecordWidth];
        const pyscale::GdResult gd =
            pyscale::run_gd(problem, pair, w.data(), 0.05, 0, 500, last, 1, gd_rec);
        std::printf("gd_status %s\n", pyscale::status_name(gd.status));
        std::printf("gd_u_500 %.17g\n", gd_rec[pyscale::kU]);
        std::printf("gd_w0_500 %.17g\n", w[0]);

        // Bad input is reported with std::invalid_argument, never a crash.
        try {
            pyscale::run_gd(problem, pair, w.data(), -1.0, 0, 1, last, 0, gd_rec);
        } catch (const std::invalid_argument&) {
            std::printf("bad_lr_rejected 1\n");
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pyscale error: %s\n", e.what());
        return 2;
    }
    return 0;
}
