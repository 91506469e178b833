//! Quantiles and CVaR of a sample of losses, as documented in `docs/commit.md`.
//!
//! With N equally likely losses sorted ascending, the q-quantile is the ⌈qN⌉-th smallest, and
//! CVaR_α is the Rockafellar–Uryasev value at that quantile:
//! `CVaR_α = VaR_α + Σ max(L − VaR_α, 0) / ((1 − α) N)`, where `VaR_α` is the α-quantile. This
//! is the minimum over η of `η + E[(L − η)⁺] / (1 − α)`, the same function the optimisation
//! linearises, so in-sample and out-of-sample figures mean the same thing. CVaR_α ≥ VaR_α
//! always, and VaR_α ≥ the median when α ≥ 0.5.

/// The ⌈qN⌉-th smallest of `sorted` (ascending, non-empty).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let k = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[k - 1]
}

/// CVaR_α of `sorted` (ascending, non-empty).
pub fn cvar(sorted: &[f64], alpha: f64) -> f64 {
    let var = quantile(sorted, alpha);
    let excess: f64 = sorted.iter().map(|l| (l - var).max(0.0)).sum();
    var + excess / ((1.0 - alpha) * sorted.len() as f64)
}

/// `mean + λ·CVaR_α` of a non-empty sample of losses: the objective.
pub fn objective(losses: &[f64], lambda: f64, alpha: f64) -> f64 {
    mean(losses) + lambda * cvar(&sorted(losses.iter().copied()), alpha)
}

/// Mean of a non-empty sample.
pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sorted copy.
pub fn sorted(x: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = x.into_iter().collect();
    v.sort_unstable_by(f64::total_cmp);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvar_is_the_mean_of_the_tail_when_the_tail_is_whole() {
        let l = sorted((1..=100).map(f64::from));
        assert_eq!(quantile(&l, 0.95), 95.0);
        assert_eq!(quantile(&l, 0.5), 50.0);
        // Tail above 95: 96..=100, so CVaR = 95 + (1+2+3+4+5)/5 = 98.
        assert!((cvar(&l, 0.95) - 98.0).abs() < 1e-12);
    }

    #[test]
    fn cvar_is_the_minimum_of_the_rockafellar_uryasev_function() {
        let l = sorted([3.0, 1.0, 7.0, 7.5, 2.0, 10.0, 0.5]);
        let f = |eta: f64| {
            eta + l.iter().map(|x| (x - eta).max(0.0)).sum::<f64>() / (0.2 * l.len() as f64)
        };
        let best = (0..=2000)
            .map(|i| f(i as f64 * 0.01))
            .fold(f64::MAX, f64::min);
        assert!(
            (cvar(&l, 0.8) - best).abs() < 1e-9,
            "{} vs {best}",
            cvar(&l, 0.8)
        );
    }
}
