//! What the command line says about itself: shell completions (`mvtopo completions SHELL`)
//! and the man page (`mvtopo man`), both generated from the same clap definition as the
//! parser, so they cannot fall behind it.

use std::io::Write;

use clap_mangen::roff::{Roff, roman};

/// Completions for `shell`, as its completion system loads them.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut cmd = super::command();
    clap_complete::generate(shell, &mut cmd, "mvtopo", out);
}

/// mvtopo(1): the top-level page with every command's synopsis and options in COMMANDS,
/// and the exit status.
pub fn man(out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = super::command().disable_help_subcommand(true);
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;

    let mut roff = Roff::default();
    roff.control("SH", ["COMMANDS"]);
    roff.to_writer(out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("mvtopo {}", sub.get_name());
        let mut roff = Roff::default();
        roff.control("SS", [name.as_str()]);
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            for para in about.to_string().split("\n") {
                roff.text([roman(para)]);
                roff.control("br", [] as [&str; 0]);
            }
        }
        roff.control("PP", [] as [&str; 0]);
        roff.to_writer(out)?;
        // The options every command shares are in OPTIONS above, once.
        let sub = sub.clone().mut_args(|a| {
            let shared = a.is_global_set() || a.get_id() == "help";
            a.hide(shared)
        });
        // The section renderers start with their own .SH; under COMMANDS they are
        // paragraphs of the subsection, so the headers are dropped.
        let page = clap_mangen::Man::new(sub.clone());
        let mut body = Vec::new();
        page.render_synopsis_section(&mut body)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            page.render_options_section(&mut body)?;
        }
        let body = String::from_utf8_lossy(&body);
        for line in body.lines().filter(|l| !l.starts_with(".SH")) {
            writeln!(out, "{line}")?;
        }
    }

    let mut roff = Roff::default();
    roff.control("SH", ["EXIT STATUS"]);
    for line in super::ui::EXIT_STATUS.lines().skip(1) {
        roff.text([roman(line)]);
        roff.control("br", [] as [&str; 0]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    roff.text([roman(
        "NO_COLOR: when set and not empty, --color auto does not color.",
    )]);
    roff.control("SH", ["FILES"]);
    roff.text([roman(
        "/run/mvtopo/lock: held by apply and destroy. /run/mvtopo/netns/: which topology \
         created which named network namespace.",
    )]);
    roff.to_writer(out)?;
    man.render_version_section(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_covers_every_command() {
        let mut out = Vec::new();
        man(&mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(page.contains("\n.TH mvtopo 1"), "{page}");
        for sub in super::super::command().get_subcommands() {
            let header = format!(".SS \"mvtopo {}\"", sub.get_name());
            let bare = format!(".SS mvtopo {}", sub.get_name());
            assert!(
                page.contains(&header) || page.contains(&bare),
                "no section for {}",
                sub.get_name()
            );
        }
        assert!(page.contains(".SH \"EXIT STATUS\"") || page.contains(".SH EXIT STATUS"));
        assert!(
            page.contains("\\-\\-detailed\\-exitcode"),
            "options are listed"
        );
    }

    #[test]
    fn completions_name_the_commands() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
            clap_complete::Shell::Elvish,
            clap_complete::Shell::PowerShell,
        ] {
            let mut out = Vec::new();
            completions(shell, &mut out);
            let text = String::from_utf8(out).unwrap();
            for word in ["plan", "apply", "completions", "color", "detailed-exitcode"] {
                assert!(text.contains(word), "{shell}: {word} missing");
            }
        }
    }
}
