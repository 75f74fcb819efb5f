// Rosenbrock tableaux of the population flow's integrator (model page: Gradient flow).
//
// RODAS4 and ROS4 are Hairer & Wanner's, Solving Ordinary Differential Equations II
// (2nd ed., Springer 1996), §IV.7 and §VI.4, with the coefficients of their codes RODAS
// ("method 1") and ROS4. RODAS4 is stiffly accurate with an embedded order-3 estimate and a
// continuous extension of order 3 built from its stage vectors; ROS4 is L-stable, order
// 4(3), and has no continuous extension of its own (see dense.hpp for the Hermite cubic
// that stands in for one).
#pragma once

namespace pyscale {

// Rosenbrock tableau in the "K-increment" form (autonomous problem):
//   G K_i = f(Y_i) + sum_{j<i} (C_ij / h) K_j,   Y_i = y + sum_{j<i} A_ij K_j,
//   y_new = y + sum_j M_j K_j,   err = sum_j E_j K_j,   G = I / (h gamma) - J(y).
// Continuous extension (when has_stage_dense_output):
//   y(t + theta h) = (1 - theta) y + theta (y_new + (1 - theta) (c2 + theta c3)),
//   c2 = sum_j D2_j K_j,  c3 = sum_j D3_j K_j.
struct RosenbrockTableau {
    int stages;
    double gamma;
    double A[6][6];
    double C[6][6];
    double M[6];
    double E[6];
    double error_order;  // min(order, embedded order) + 1
    bool has_stage_dense_output;
    double D2[6];
    double D3[6];
};

// RODAS4, Hairer & Wanner (1996): stiffly accurate (y_new = Y6 + K6, err = K6).
constexpr RosenbrockTableau kRodas4 = {
    6,
    0.25,
    {{0, 0, 0, 0, 0, 0},
     {1.544, 0, 0, 0, 0, 0},
     {0.9466785280815826, 0.2557011698983284, 0, 0, 0, 0},
     {3.314825187068521, 2.896124015972201, 0.9986419139977817, 0, 0, 0},
     {1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 0, 0},
     {1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0, 0}},
    {{0, 0, 0, 0, 0, 0},
     {-5.6688, 0, 0, 0, 0, 0},
     {-2.430093356833875, -0.2063599157091915, 0, 0, 0, 0},
     {-0.1073529058151375, -9.594562251023355, -20.47028614809616, 0, 0, 0},
     {7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160, 0, 0},
     {8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136,
      -6.058818238834054, 0}},
    {1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0, 1.0},
    {0, 0, 0, 0, 0, 1.0},
    4.0,
    true,
    {10.12623508344586, -7.487995877610167, -34.80091861555747, -7.992771707568823,
     1.025137723295662, 0},
    {-0.6762803392801253, 6.087714651680015, 16.43084320892478, 24.76722511418386,
     -6.594389125716872, 0}};

// ROS4: L-stable, order 4(3), Hairer & Wanner's "ROS4" parameter set.
constexpr RosenbrockTableau kRos4 = {
    4,
    0.57282,
    {{0, 0, 0, 0, 0, 0},
     {2.0, 0, 0, 0, 0, 0},
     {1.867943637803922, 0.2344449711399156, 0, 0, 0, 0},
     {1.867943637803922, 0.2344449711399156, 0, 0, 0, 0},
     {0, 0, 0, 0, 0, 0},
     {0, 0, 0, 0, 0, 0}},
    {{0, 0, 0, 0, 0, 0},
     {-7.137615036412310, 0, 0, 0, 0, 0},
     {2.580708087951457, 0.6515950076447975, 0, 0, 0, 0},
     {-2.137148994382534, -0.3214669691237626, -0.6949742501781779, 0, 0, 0},
     {0, 0, 0, 0, 0, 0},
     {0, 0, 0, 0, 0, 0}},
    {2.255570073418735, 0.2870493262186792, 0.4353179431840180, 1.093502252409163, 0, 0},
    {-0.2815431932141155, -0.07276199124938920, -0.1082196201495311, -1.093502252409163, 0, 0},
    4.0,
    false,
    {0, 0, 0, 0, 0, 0},
    {0, 0, 0, 0, 0, 0}};

// kExponential: the exponential collocation scheme (exponential.hpp), with RODAS4 steps where
// it does not apply (c0 near 0); its workspace and fallback tableau are RODAS4's. kAuto (the
// default): one of kRodas4 and kExponential, by choose_flow_method at the start of a run.
enum class FlowMethod : int { kRodas4 = 0, kRos4 = 1, kExponential = 2, kAuto = 3 };

inline const RosenbrockTableau& tableau(FlowMethod m) {
    return m == FlowMethod::kRos4 ? kRos4 : kRodas4;
}

// kAuto's rule (flow engine page: Choosing the scheme): the exponential scheme for runs that
// reach t_end >= kAutoHorizon at rtol <= kAutoRtol, RODAS4 otherwise. Measured (one thread,
// a in {1.5, 2, 3}, d from 100 to 10^5): there it takes 0.36-0.66 of RODAS4's wall time; at
// rtol 1e-7 the two break even and at 1e-6 RODAS4 wins (to 1.6x) at d <= 10^5, its cheaper
// passes outweighing the exponential scheme's 7-15 times fewer; shorter horizons leave the
// exponential scheme less of Phase III, where its steps grow.
constexpr double kAutoHorizon = 1e6;
constexpr double kAutoRtol = 1e-8;

// The method a run asking for `requested` uses at rtol up to t_end (any request other than
// kAuto is itself).
inline FlowMethod choose_flow_method(FlowMethod requested, double rtol, double t_end) {
    if (requested != FlowMethod::kAuto) return requested;
    return t_end >= kAutoHorizon && rtol <= kAutoRtol ? FlowMethod::kExponential
                                                      : FlowMethod::kRodas4;
}

}  // namespace pyscale
