//! A small linear-program builder, its CPLEX LP export, and its solution by Clarabel.
//!
//! The placement core states its models here in rows and columns with names, so that the
//! same model can be solved in process and written out for another solver to check.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};
use std::fmt::Write as _;

/// A column: `0 <= x <= upper`, with an objective coefficient.
#[derive(Debug, Clone)]
pub struct Var {
    pub name: String,
    pub cost: f64,
    pub upper: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sense {
    Le,
    Ge,
    Eq,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub terms: Vec<(usize, f64)>,
    pub sense: Sense,
    pub rhs: f64,
}

/// A minimisation LP over non-negative variables.
#[derive(Debug, Clone, Default)]
pub struct Lp {
    pub vars: Vec<Var>,
    pub rows: Vec<Row>,
    /// A constant added to the objective (for example, sunk contract cost).
    pub constant: f64,
}

#[derive(Debug, Clone)]
pub struct LpSolution {
    pub x: Vec<f64>,
    /// Primal objective, including the constant.
    pub objective: f64,
    /// Dual objective, including the constant: a lower bound on the LP's optimum, up to the
    /// solver's dual feasibility tolerance.
    pub dual_objective: f64,
    pub iterations: u32,
    pub seconds: f64,
}

/// Why the solver did not return an optimum.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the LP solver stopped with status {status} after {iterations} iterations")]
pub struct SolveError {
    pub status: String,
    pub iterations: u32,
}

impl Lp {
    pub fn add_var(&mut self, name: impl Into<String>, cost: f64, upper: Option<f64>) -> usize {
        self.vars.push(Var {
            name: name.into(),
            cost,
            upper,
        });
        self.vars.len() - 1
    }

    pub fn add_row(
        &mut self,
        name: impl Into<String>,
        terms: Vec<(usize, f64)>,
        sense: Sense,
        rhs: f64,
    ) {
        self.rows.push(Row {
            name: name.into(),
            terms,
            sense,
            rhs,
        });
    }

    pub fn nonzeros(&self) -> usize {
        self.rows.iter().map(|r| r.terms.len()).sum()
    }

    /// Solve with Clarabel's interior-point method.
    pub fn solve(&self) -> Result<LpSolution, SolveError> {
        let n = self.vars.len();
        if n == 0 {
            return self.solve_empty();
        }
        // Clarabel form: A x + s = b, s in cone. Equalities first (zero cone), then
        // inequalities as `a x <= b` (non-negative cone), then the variable bounds.
        let mut trip_i = Vec::with_capacity(self.nonzeros() + 2 * n);
        let mut trip_j = Vec::with_capacity(trip_i.capacity());
        let mut trip_v = Vec::with_capacity(trip_i.capacity());
        let mut b = Vec::new();
        let mut m = 0;
        for r in self.rows.iter().filter(|r| r.sense == Sense::Eq) {
            for &(j, v) in &r.terms {
                trip_i.push(m);
                trip_j.push(j);
                trip_v.push(v);
            }
            b.push(r.rhs);
            m += 1;
        }
        let n_eq = m;
        for r in self.rows.iter().filter(|r| r.sense != Sense::Eq) {
            let sign = if r.sense == Sense::Le { 1.0 } else { -1.0 };
            for &(j, v) in &r.terms {
                trip_i.push(m);
                trip_j.push(j);
                trip_v.push(sign * v);
            }
            b.push(sign * r.rhs);
            m += 1;
        }
        for (j, var) in self.vars.iter().enumerate() {
            trip_i.push(m);
            trip_j.push(j);
            trip_v.push(-1.0);
            b.push(0.0);
            m += 1;
            if let Some(u) = var.upper {
                trip_i.push(m);
                trip_j.push(j);
                trip_v.push(1.0);
                b.push(u);
                m += 1;
            }
        }
        let a = CscMatrix::new_from_triplets(m, n, trip_i, trip_j, trip_v);
        let p = CscMatrix::<f64>::zeros((n, n));
        let q: Vec<f64> = self.vars.iter().map(|v| v.cost).collect();
        let mut cones: Vec<SupportedConeT<f64>> = Vec::new();
        if n_eq > 0 {
            cones.push(SupportedConeT::ZeroConeT(n_eq));
        }
        if m > n_eq {
            cones.push(SupportedConeT::NonnegativeConeT(m - n_eq));
        }
        let settings = DefaultSettingsBuilder::default()
            .verbose(false)
            .max_iter(400)
            .presolve_enable(true)
            .build()
            .expect("static solver settings are valid");
        let mut solver =
            DefaultSolver::new(&p, &q, &a, &b, &cones, settings).map_err(|e| SolveError {
                status: format!("setup error: {e:?}"),
                iterations: 0,
            })?;
        solver.solve();
        let s = &solver.solution;
        match s.status {
            SolverStatus::Solved | SolverStatus::AlmostSolved => Ok(LpSolution {
                x: s.x.iter().map(|v| v.max(0.0)).collect(),
                objective: s.obj_val + self.constant,
                dual_objective: s.obj_val_dual + self.constant,
                iterations: s.iterations,
                seconds: s.solve_time,
            }),
            other => Err(SolveError {
                status: format!("{other:?}"),
                iterations: s.iterations,
            }),
        }
    }

    /// With no variables there is nothing to optimise (and Clarabel cannot take an empty
    /// problem): the rows only need checking against zero.
    fn solve_empty(&self) -> Result<LpSolution, SolveError> {
        let holds = self.rows.iter().all(|r| match r.sense {
            Sense::Le => 0.0 <= r.rhs,
            Sense::Ge => 0.0 >= r.rhs,
            Sense::Eq => r.rhs == 0.0,
        });
        if !holds {
            return Err(SolveError {
                status: "PrimalInfeasible".into(),
                iterations: 0,
            });
        }
        Ok(LpSolution {
            x: Vec::new(),
            objective: self.constant,
            dual_objective: self.constant,
            iterations: 0,
            seconds: 0.0,
        })
    }

    /// The model in CPLEX LP format, readable by HiGHS, CPLEX, Gurobi, GLPK and CBC.
    pub fn to_cplex_lp(&self, title: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\\ {title}");
        let _ = writeln!(
            out,
            "\\ objective constant (sunk cost) = {}",
            fmt_num(self.constant)
        );
        out.push_str("Minimize\n obj:");
        let mut any = false;
        for (j, v) in self.vars.iter().enumerate() {
            if v.cost != 0.0 {
                push_term(&mut out, v.cost, &self.vars[j].name);
                any = true;
            }
        }
        if self.constant != 0.0 {
            let _ = write!(out, " + {} __constant", fmt_num(self.constant));
            any = true;
        }
        if !any {
            out.push_str(" 0 __constant");
        }
        out.push_str("\nSubject To\n");
        for r in &self.rows {
            let _ = write!(out, " {}:", r.name);
            if r.terms.is_empty() {
                out.push_str(" 0 __constant");
            }
            for &(j, c) in &r.terms {
                push_term(&mut out, c, &self.vars[j].name);
            }
            let op = match r.sense {
                Sense::Le => "<=",
                Sense::Ge => ">=",
                Sense::Eq => "=",
            };
            let _ = writeln!(out, " {op} {}", fmt_num(r.rhs));
        }
        out.push_str("Bounds\n __constant = 1\n");
        for v in &self.vars {
            if let Some(u) = v.upper {
                let _ = writeln!(out, " 0 <= {} <= {}", v.name, fmt_num(u));
            }
        }
        out.push_str("End\n");
        out
    }
}

fn push_term(out: &mut String, c: f64, name: &str) {
    if c < 0.0 {
        let _ = write!(out, " - {} {}", fmt_num(-c), name);
    } else {
        let _ = write!(out, " + {} {}", fmt_num(c), name);
    }
    // CPLEX LP lines may not exceed 560 characters; break often.
    if out.len() - out.rfind('\n').unwrap_or(0) > 200 {
        out.push_str("\n   ");
    }
}

fn fmt_num(x: f64) -> String {
    // Shortest representation that round-trips.
    format!("{x:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_small_lp() {
        // min -x - 2y  s.t. x + y <= 4, y <= 3  => x = 1, y = 3, obj = -7
        let mut lp = Lp::default();
        let x = lp.add_var("x", -1.0, None);
        let y = lp.add_var("y", -2.0, Some(3.0));
        lp.add_row("c", vec![(x, 1.0), (y, 1.0)], Sense::Le, 4.0);
        let s = lp.solve().unwrap();
        assert!((s.objective + 7.0).abs() < 1e-6, "{}", s.objective);
        assert!((s.x[x] - 1.0).abs() < 1e-6);
        assert!(s.dual_objective <= s.objective + 1e-6);
    }

    #[test]
    fn an_lp_without_variables_is_its_constant() {
        let lp = Lp {
            constant: 3.0,
            ..Lp::default()
        };
        assert_eq!(lp.solve().unwrap().objective, 3.0);
        let mut bad = Lp::default();
        bad.add_row("c", Vec::new(), Sense::Ge, 1.0);
        assert!(bad.solve().is_err());
    }

    #[test]
    fn reports_infeasibility_as_an_error() {
        let mut lp = Lp::default();
        let x = lp.add_var("x", 1.0, Some(1.0));
        lp.add_row("c", vec![(x, 1.0)], Sense::Ge, 2.0);
        assert!(lp.solve().is_err());
    }

    #[test]
    fn writes_cplex_lp() {
        let mut lp = Lp {
            constant: 5.0,
            ..Lp::default()
        };
        let x = lp.add_var("x", 2.0, Some(3.0));
        lp.add_row("c1", vec![(x, 1.0)], Sense::Ge, 1.0);
        let text = lp.to_cplex_lp("t");
        assert!(
            text.contains("Minimize\n obj: + 2.0 x + 5.0 __constant"),
            "{text}"
        );
        assert!(text.contains(" c1: + 1.0 x >= 1.0"), "{text}");
        assert!(text.contains(" 0 <= x <= 3.0"), "{text}");
    }
}
