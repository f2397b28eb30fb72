"""Operator commands: decide a handoff waiting for approval, redrive dead-lettered handoffs, preview a deploy.

Their logic stays where it is tested with the rest of its part: the handoff CLI functions in
lambdas/handoff (approve.py, redrive.py), the preview in stacks/preview.py. These commands
import it from the checkout and add the command line: options, confirmation, one-line errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from kit_client.checkout import ROOT, importable
from kit_client.options import CONTEXT
from kit_client.state import ClientError, Refused


def _aws_errors(exc: Exception, needs: str) -> ClientError:
    """A boto3 failure as one line with what to do."""
    from botocore.exceptions import ClientError as AwsError
    from botocore.exceptions import NoCredentialsError, NoRegionError, PartialCredentialsError

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ClientError("no AWS credentials found: run `aws configure` or `aws sso login`, or set AWS_PROFILE")
    if isinstance(exc, NoRegionError):
        return ClientError("no AWS region: pass --region or set AWS_REGION")
    if isinstance(exc, AwsError):
        info = exc.response.get("Error", {})
        code, message = info.get("Code", "Error"), info.get("Message", "")
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            return Refused(f"access denied ({message}): your credentials need {needs}")
        if code in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
            return Refused(f"the approval can no longer be sent ({code}): it timed out or was already decided")
        return Refused(f"{exc.operation_name} failed with {code}: {message}")
    return ClientError(str(exc))


def _region(given: str | None) -> str:
    import boto3

    region = given or os.environ.get("AWS_REGION") or boto3.Session().region_name
    if not region:
        raise ClientError("no AWS region: pass --region or set AWS_REGION (the region of the environment's stacks)")
    return region


@click.command(context_settings=CONTEXT)
@click.option("--table", required=True, help="the Stateful stack output IdempotencyTableName")
@click.option("--key", required=True, help="the handoff's idempotency key (64 hex characters)")
@click.option("--approve", "decision", flag_value="approve", help="run the step")
@click.option("--reject", "decision", flag_value="reject", help="do not run it (needs --reason)")
@click.option("--reason", default="", help="why; recorded with the decision and told to the requester")
@click.option("--yes", is_flag=True, help="send without asking (scripts)")
@click.option("--region", help="the workflow's region (default: AWS_REGION, then your AWS config)")
def approve(table: str, key: str, decision: str | None, reason: str, yes: bool, region: str | None) -> int:
    """Approve or reject a handoff that waits for a human.

    Your AWS credentials name you (sts:GetCallerIdentity): the request and your ARN are shown,
    and you are asked before anything is sent. Approving your own request is refused unless the
    environment sets approval_allow_self. Needs dynamodb:GetItem on the idempotency table and
    states:SendTaskSuccess / SendTaskFailure (docs/handoff.md, Approving).
    """
    if decision is None:
        raise click.UsageError("say --approve or --reject")
    if decision == "reject" and not reason:
        raise click.UsageError("--reason is required with --reject")
    importable("lambdas", "handoff/approve.py")
    import boto3
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError as AwsError
    from handoff import approve as handoff

    needs = "dynamodb:GetItem on the idempotency table and states:SendTaskSuccess/SendTaskFailure on the workflow"
    try:
        session = boto3.Session(region_name=_region(region))
        who = handoff.approver(session)
        request = handoff.pending(session, table=table, key=key)
        handoff.check_not_self(who, request, approve=decision == "approve")
        click.echo(handoff.show(request, who))
        if not yes:
            try:
                sure = click.confirm("Approve?" if decision == "approve" else "Reject?", default=False)
            except click.Abort:
                sure = False
            if not sure:
                click.echo("nothing sent")
                return 1
        click.echo(handoff.send(session, who, request, approve=decision == "approve", reason=reason))
    except (LookupError, handoff.SelfApprovalRefused) as exc:
        raise Refused(str(exc)) from None
    except (BotoCoreError, AwsError) as exc:
        raise _aws_errors(exc, needs) from None
    return 0


@click.command(context_settings=CONTEXT)
@click.option("--queue-url", required=True, help="the handoff's DeadLetters queue URL")
@click.option("--state-machine-arn", required=True, help="the handoff Workflow's ARN")
@click.option("--dry-run", is_flag=True, help="list what would be started; change nothing")
@click.option("--region", help="default: the region in --state-machine-arn")
@click.option("--json", "as_json", is_flag=True, help="print {started, skipped} as JSON")
def redrive(queue_url: str, state_machine_arn: str, dry_run: bool, region: str | None, as_json: bool) -> int:
    """Start one workflow execution per dead-lettered handoff event (safe to repeat).

    Each message's detail becomes a new execution; a request whose step ran (or may have) ends
    as Duplicate. Messages that are not the kit's handoff events stay in the queue. Needs
    sqs:ReceiveMessage/DeleteMessage/ChangeMessageVisibility and states:StartExecution.
    """
    parts = state_machine_arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "states":
        raise ClientError(f"--state-machine-arn={state_machine_arn!r}: expected arn:aws:states:REGION:ACCOUNT:...")
    importable("lambdas", "handoff/redrive.py")
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError as AwsError
    from handoff import redrive as handoff

    needs = "sqs:ReceiveMessage, DeleteMessage, ChangeMessageVisibility on the queue and states:StartExecution"
    try:
        done = handoff.redrive(
            queue_url=queue_url, state_machine_arn=state_machine_arn, dry_run=dry_run, region=region or parts[3]
        )
    except (BotoCoreError, AwsError) as exc:
        raise _aws_errors(exc, needs) from None
    if as_json:
        click.echo(json.dumps({"started": done.started, "skipped": done.skipped, "dry_run": dry_run}, indent=2))
        return 0
    for name in done.started:
        click.echo(("would start " if dry_run else "started ") + name)
    for message_id in done.skipped:
        click.echo(f"left in the queue (not a handoff event): {message_id}", err=True)
    if not done.started and not done.skipped:
        click.echo("the queue is empty", err=True)
    return 0


def _synth(envs: tuple[str, ...]) -> None:
    command = ["make", "synth", *([f"ENV={envs[0]}"] if len(envs) == 1 else [])]
    click.echo(f"$ {' '.join(command)}", err=True)
    # make's output goes to stderr, so stdout stays the preview (and valid JSON with --json).
    if subprocess.run(command, cwd=ROOT, stdout=sys.stderr, check=False).returncode != 0:
        raise ClientError("`make synth` failed (its output is above): fix that first")


def _paint(line: str) -> str:
    styles: dict[str, dict[str, Any]] = {
        "==": {"bold": True},
        "  + ": {"fg": "green"},
        "  - ": {"fg": "red"},
        "  ~ ": {"fg": "yellow"},
        "changes": {"bold": True},
    }
    for prefix, style in styles.items():
        if line.startswith(prefix):
            return click.style(line, **style)
    if line.endswith(":") and not line.startswith(" "):
        return click.style(line, bold=True)
    return line


@click.command(context_settings=CONTEXT)
@click.argument("envs", nargs=-1)
@click.option("--synth", "synth_first", is_flag=True, help="run `make synth` first (done anyway when cdk.out is empty)")
@click.option(
    "--outdir", type=click.Path(file_okay=False, path_type=Path), help="the cloud assembly (default: cdk.out)"
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="where the last preview of each environment is kept (default: .local/preview)",
)
@click.option("--no-save", is_flag=True, help="compare with the last preview, but keep it as the baseline")
@click.option("--json", "as_json", is_flag=True, help="print {env: {sections, previous_at, changes}} as JSON")
def preview(
    envs: tuple[str, ...],
    synth_first: bool,
    outdir: Path | None,
    state_dir: Path | None,
    no_save: bool,
    as_json: bool,
) -> int:
    """What a deploy of ENVS (default: every synthesized one) would create, and what changed since the last preview.

    \b
    Per environment: resources by type; every IAM role, who assumes it, and each grant's
    actions and resources; public endpoints; cost drivers (runtimes and their lifecycle, memory
    expiry and strategies, DynamoDB billing and indexes, S3 lifecycle, log retention, functions,
    alarms, schedules). Offline: it reads the synthesized templates. The last preview of each
    environment is kept in .local/preview/ and compared with the next.
    """
    importable(".", "stacks/preview.py")
    from stacks import preview as previews

    assembly = outdir or previews.DEFAULT_OUTDIR
    if synth_first or (outdir is None and not (assembly / "manifest.json").is_file()):
        _synth(envs)
    try:
        results = previews.run(assembly, list(envs), state_dir or previews.DEFAULT_STATE_DIR, save=not no_save)
    except previews.PreviewError as exc:
        raise ClientError(str(exc)) from None
    if as_json:
        payload = {env: {"sections": p, "previous_at": at, "changes": c} for env, _, p, at, c in results}
        click.echo(json.dumps(payload, indent=1))
        return 0
    for env, stacks, current, previous_at, found in results:
        for line in previews.render(env, stacks, current) + previews.render_changes(env, previous_at, found):
            click.echo(_paint(line))
        click.echo()
    return 0
