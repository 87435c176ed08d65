"""A person logs in, fills the spawn form, and lands in JupyterLab."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import login
from tests.stack import session_env, session_jobs, wait_no_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.hub, pytest.mark.browser]


def test_login_spawn_form_and_jupyterlab(hub, browser, artifacts):
    page = login(browser, hub, "bob")
    try:
        page.wait_for_url("**/hub/spawn**", timeout=60_000)
        # Only bob's projects, and only partitions those projects may use
        projects = page.locator("#aif-project option").all_inner_texts()
        assert [p.split(" - ")[0] for p in projects] == ["ai-alpha", "ai-beta"]
        assert "CPUs free" in page.locator("#aif-partition").inner_text()
        # The partition table, with what Slurm reports now (numbers, not "unknown").
        table = page.locator("#aif-partitions")
        assert table.is_visible()
        for name in ("cpu", "gpu"):
            row = table.locator(f"tr[data-partition={name}]")
            assert re.fullmatch(r"\d+ / \d+", row.locator(".aif-cpus-free").inner_text())
            assert re.fullmatch(
                r"\d+ pending( \(\d+ held\))?", row.locator(".aif-queue").inner_text()
            )
        assert re.fullmatch(
            r"\d+ / \d+", table.locator("tr[data-partition=gpu] .aif-gpus-free").inner_text()
        )
        assert page.locator("#aif-price").inner_text().startswith("Price: ")
        assert page.locator("#aif-spawn-form").get_attribute("data-script") == "on"
        page.select_option("#aif-project", "ai-beta")
        assert page.locator("#aif-partition option[value=gpu]").is_disabled()
        page.fill("#aif-cpus", "2")
        page.screenshot(path=str(artifacts / "spawn-form.png"), full_page=True)
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_url("**/user/bob/lab**", timeout=180_000)
        page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(artifacts / "jupyterlab.png"))
        (job,) = session_jobs("bob")
        assert (job["account"], job["partition"]) == ("ai-beta", "cpu")
    finally:
        page.close()
        hub.stop("bob")
        wait_no_jobs("bob")


def test_spawn_form_refusal_is_shown_on_the_page(hub, browser):
    """A value outside the limits (the browser's min/max bypassed) comes back as a message."""
    page = browser.new_page()
    try:
        ctx_cookies = hub.login("alice").cookies
        browser.add_cookies(
            [{"name": c.name, "value": c.value, "url": hub.url} for c in ctx_cookies]
        )
        page.goto(f"{hub.url}/hub/spawn/alice")
        page.evaluate("document.getElementById('aif-cpus').removeAttribute('max')")
        page.fill("#aif-cpus", "64")
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_selector("text=cpus: 64 is outside the partition's limits", timeout=30_000)
        assert session_jobs("alice") == []
    finally:
        page.close()


def test_a_session_starts_from_a_saved_preset_link(hub, browser, artifacts):
    """A person saves their choices as a preset while starting a session, then later starts
    the same session in one click from the preset's link on the form."""
    page = browser.new_page()
    try:
        cookies = hub.login("bob").cookies
        browser.add_cookies([{"name": c.name, "value": c.value, "url": hub.url} for c in cookies])
        page.goto(f"{hub.url}/hub/spawn/bob")
        page.select_option("#aif-project", "ai-alpha")
        page.select_option("#aif-environment", "jax")
        page.fill("#aif-preset-name", "jax notebook")
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_url("**/user/bob/lab**", timeout=180_000)
        hub.stop("bob")
        wait_no_jobs("bob")

        page.goto(f"{hub.url}/hub/spawn/bob")
        preset = page.locator(".aif-preset", has_text="jax notebook")
        assert "environment=jax" in preset.inner_text()
        page.screenshot(path=str(artifacts / "spawn-presets.png"), full_page=True)
        preset.locator("a.aif-preset-start").click()
        page.wait_for_url("**/user/bob/lab**", timeout=180_000)
        page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        (job,) = session_jobs("bob")
        assert job["account"] == "ai-alpha"
        assert session_env(job["id"])["AIFACTORY_ENVIRONMENT"] == "jax"
    finally:
        page.close()
        hub.stop("bob")
        wait_no_jobs("bob")


def test_the_form_informs_and_starts_a_session_with_javascript_off(hub, browser, artifacts):
    """With JavaScript disabled the page still shows the partition table, the quota note and
    the price, and its plain form submits a session (the script only enhances it)."""
    context = browser.browser.new_context(java_script_enabled=False)
    page = login(context, hub, "bob")
    try:
        page.wait_for_url("**/hub/spawn**", timeout=60_000)
        assert page.locator("#aif-spawn-form").get_attribute("data-script") is None
        rows = page.locator("#aif-partitions tbody tr")
        assert rows.count() == 2
        cpu_free = page.locator("tr[data-partition=cpu] .aif-cpus-free").inner_text()
        assert re.fullmatch(r"\d+ / \d+", cpu_free)
        quota = page.locator("#aif-quota").inner_text()
        selected = page.input_value("#aif-project")
        assert quota.startswith(f"{selected}: "), quota  # the pre-selected project's note
        assert page.locator("#aif-price").inner_text().startswith("Price: ")
        assert page.locator("#aif-start").inner_text().strip()
        page.screenshot(path=str(artifacts / "spawn-form-nojs.png"), full_page=True)
        page.select_option("#aif-project", "ai-beta")
        page.select_option("#aif-partition", "cpu")
        page.click("input[type=submit], button[type=submit]")
        # The hub answers with the spawn-pending page (its progress needs the script) or,
        # when the session came up within its slow-spawn wait, with the session itself.
        page.wait_for_url(re.compile(r".*/(hub/spawn-pending/bob|user/bob/).*"), timeout=60_000)
        hub.wait_ready("bob", timeout=180)
        (job,) = session_jobs("bob")
        assert (job["account"], job["partition"]) == ("ai-beta", "cpu")
    finally:
        context.close()
        if hub.server("bob"):
            hub.stop("bob")
        wait_no_jobs("bob")
