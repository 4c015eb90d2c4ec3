//! img-history: show the history of an image, as `docker image history`.

use berth::image;
use berth::output::{self, col, Format};
use berth::Result;
use berth_cli::{one_name, ImageArgs};
use clap::{CommandFactory, Parser};
use serde_json::Value;

const AFTER: &str = "\
One row per history entry, newest first: IMAGE (the image ID on the newest row, <missing> on
the others, as Docker), CREATED, CREATED BY, SIZE (of the layer the step made, uncompressed
as Docker counts it; 0B for a step that made none) and COMMENT.
A table on a terminal, JSON Lines otherwise; --format json|table|TEMPLATE.

Examples:
  img-history busybox
  img-history --no-trunc --format '{{.CreatedBy}}' app:1";

/// Show the history of an image
#[derive(Parser, Debug)]
#[command(name = "img-history", version, after_help = AFTER)]
pub struct Cli {
    /// The image: a reference, an image ID (or unique prefix), a digest, oci:DIR[:REF], or -
    #[arg(value_name = "IMAGE")]
    pub image_name: String,

    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub human: bool,

    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,

    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,

    /// Output format: json, table, table TEMPLATE, or a Go TEMPLATE
    #[arg(long)]
    pub format: Option<String>,

    #[command(flatten)]
    pub image: ImageArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// Docker's stringutils.Ellipsis: at most `max` characters, the last one `…` when cut.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

pub fn run(cli: Cli) -> Result<()> {
    let name = one_name(cli.image_name)?;
    let (layout, catalog, idx) = image::open_named(&cli.image.layout()?, &name)?;
    let img = catalog.items[idx]
        .image
        .as_ref()
        .expect("open_named checks the image");
    let rows = image::history(&layout, img);
    let id_of = |r: &image::HistoryRow| match &r.id {
        Some(d) if cli.no_trunc => d.to_string(),
        Some(d) => d.short().to_string(),
        None => "<missing>".to_string(),
    };
    if cli.quiet {
        let out: String = rows.iter().map(|r| id_of(r) + "\n").collect();
        return output::write_stdout(out.as_bytes());
    }
    let values: Vec<Value> = rows
        .iter()
        .map(|r| {
            let created_by = r.created_by.replace('\t', " ");
            let created_by = if cli.no_trunc {
                created_by
            } else {
                ellipsis(&created_by, 45)
            };
            let (created_since, created_at, size) = if cli.human {
                (
                    output::since(r.created.as_deref()),
                    output::go_time(r.created.as_deref()),
                    output::human_size(r.size),
                )
            } else {
                let t = r.created.clone().unwrap_or_default();
                (t.clone(), t, r.size.to_string())
            };
            let line = image::HistoryLine {
                comment: r.comment.clone(),
                created_at,
                created_by,
                created_since,
                id: id_of(r),
                size,
            };
            serde_json::to_value(line).expect("a history line serialises")
        })
        .collect();
    let columns = [
        col("IMAGE", "ID"),
        col("CREATED", "CreatedSince"),
        col("CREATED BY", "CreatedBy"),
        col("SIZE", "Size"),
        col("COMMENT", "Comment"),
    ];
    output::print_list(&values, &columns, Format::parse(cli.format.as_deref()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ellipsis_as_docker() {
        assert_eq!(super::ellipsis("short", 45), "short");
        let long = "a".repeat(50);
        let e = super::ellipsis(&long, 45);
        assert_eq!(e.chars().count(), 45);
        assert!(e.ends_with('…'));
    }
}
