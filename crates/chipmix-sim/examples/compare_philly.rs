//! The policies on the Philly trace (82k jobs, Sep–Dec 2017) over a fleet built from a real
//! plan (see `benches/support/philly.rs` for how the fleet was chosen). Prints the fleet with
//! its speed factors and the comparison as markdown.
//!
//! `cargo run --release -p chipmix-sim --example compare_philly`

#[path = "../benches/support/philly.rs"]
mod philly;

use chipmix_sim::*;

fn main() {
    let s = philly::setup();
    let (jobs, shape) = philly::load_traces();
    let span = jobs.last().map_or(1.0, |j| j.submit_seconds);
    let demand: f64 = jobs
        .iter()
        .map(|j| j.duration_seconds * f64::from(j.num_gpus))
        .sum::<f64>()
        / span;
    let mut sc = philly::scenario(&s, &s.fixed, &jobs, &shape);
    println!(
        "{} jobs over {:.1} days; average demand {demand:.0} A100-40GB-equivalent GPUs\n",
        jobs.len(),
        span / 86_400.0
    );
    println!(
        "| pool | chip | chips/instance | USD/h | training instances | inference instances | A100-40GB equivalents | speed factor by job size {:?} |",
        sc.speeds.gpu_counts()
    );
    println!("|---|---|---:|---:|---:|---:|---:|---|");
    let mut total = 0.0;
    for (i, x) in sc.fleet.pools.iter().enumerate() {
        let eq = sc.speeds.factor(1, i).map_or(0.0, |f| {
            f64::from(x.planned_instances * x.chips_per_instance) / f
        });
        total += eq;
        let factors: Vec<String> = sc
            .speeds
            .gpu_counts()
            .iter()
            .map(|&n| {
                sc.speeds
                    .factor(n, i)
                    .map_or("–".into(), |f| format!("{f:.2}"))
            })
            .collect();
        println!(
            "| {}{} | {} | {} | {:.2} | {} | {} | {eq:.0} | {} |",
            x.offering,
            if x.spot { " (spot)" } else { "" },
            x.chip,
            x.chips_per_instance,
            x.usd_per_hour,
            x.planned_instances,
            x.inference_instances,
            factors.join(" ")
        );
    }
    println!(
        "\ntraining capacity {total:.0} A100-40GB equivalents; the trace keeps {:.0}% of it busy on average\n",
        demand / total * 100.0
    );

    let mut rows = Vec::new();
    for (name, policy, renting) in philly::runs() {
        sc.policy = policy;
        sc.renting = renting;
        let out = simulate(&sc, &|_| {}).expect("simulate");
        rows.push((name, out.report));
    }
    println!("Same supply for every policy (the plan's instances, nothing more):\n");
    println!("{}", markdown_table(&rows));

    let mut elastic = philly::scenario(&s, &s.full, &jobs, &shape);
    let rows = compare_policies(&elastic, &[Policy::Greedy, Policy::gavel()]).expect("compare");
    println!(
        "Rented policies on every on-demand offering the portfolio allows ({} pools, no supply limit; the spot pool as planned):\n",
        elastic.fleet.pools.len()
    );
    println!("{}", markdown_table(&rows));
    for (name, r) in &rows {
        println!("{name}: cost by vendor {:?}", r.cost_by_vendor_usd);
    }
    elastic.policy = Policy::FollowPlan;
    let r = simulate(&elastic, &|_| {}).expect("simulate").report;
    println!(
        "(follow-plan on the same fleet, as a check: ${:.0})",
        r.total_cost_usd
    );
}
