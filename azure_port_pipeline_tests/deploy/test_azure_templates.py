"""The Azure side of real-time sync under deploy/azure/, checked as far as a machine without an
Azure account allows.

The ARM template is parsed and checked for what Azure would need to create the right thing
(parameters, resource types and API versions, the system topic, the event subscription's
destination, event types and schema, the role ids and their condition) and for expressions
that reference only what the template declares. The az CLI script is checked by bash (and
shellcheck when installed), by reading it, and by running it end to end against a stand-in `az`
that records every command and answers like the real one would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from azure_port_pipeline_tests.paths import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy" / "azure"
TEMPLATE = DEPLOY / "event-grid.json"
SETUP = DEPLOY / "setup.sh"
README = DEPLOY / "README.md"

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
PARAMETERS = {
    "storageAccountName",
    "queueName",
    "systemTopicName",
    "eventSubscriptionName",
    "pipelinePrincipalId",
    "location",
}
EVENT_TYPES = [
    "Microsoft.Resources.ResourceWriteSuccess",
    "Microsoft.Resources.ResourceDeleteSuccess",
    "Microsoft.Resources.ResourceActionSuccess",
]
MESSAGE_PROCESSOR = "8a0f0c08-91a1-4084-bc3d-661d67233fed"  # Storage Queue Data Message Processor
MESSAGE_SENDER = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"  # Storage Queue Data Message Sender
# every resource the template declares, with the API version it is written against
RESOURCES = Counter(
    {
        ("Microsoft.Storage/storageAccounts", "2023-01-01"): 1,
        ("Microsoft.Storage/storageAccounts/queueServices", "2023-01-01"): 1,
        ("Microsoft.Storage/storageAccounts/queueServices/queues", "2023-01-01"): 2,
        ("Microsoft.EventGrid/systemTopics", "2022-06-15"): 1,
        ("Microsoft.EventGrid/systemTopics/eventSubscriptions", "2022-06-15"): 1,
        ("Microsoft.Authorization/roleAssignments", "2022-04-01"): 2,
    }
)
PIPELINE_VARIABLES = (
    "AZURE_EVENTS_QUEUE_NAME",
    "AZURE_EVENTS_QUEUE_ACCOUNT_URL",
    "AZURE_EVENTS_QUEUE_CONNECTION_STRING",
)
# ARM template functions the template may call (a typo'd function fails only at deployment)
ARM_FUNCTIONS = {
    "concat",
    "empty",
    "format",
    "guid",
    "not",
    "parameters",
    "reference",
    "resourceGroup",
    "resourceId",
    "subscription",
    "subscriptionResourceId",
    "uniqueString",
    "variables",
}


# --- the ARM template -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return json.loads(TEMPLATE.read_text(encoding="utf-8"))


def resources_of(template: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in template["resources"] if r["type"] == type_]


def the(template: dict[str, Any], type_: str) -> dict[str, Any]:
    (resource,) = resources_of(template, type_)
    return resource


def resolved(template: dict[str, Any], value: Any) -> Any:
    """`[variables('x')]` replaced by the variable's value; anything else as it is."""
    if isinstance(value, str) and (match := re.fullmatch(r"\[variables\('(\w+)'\)\]", value)):
        return template["variables"][match.group(1)]
    return value


def expressions(node: Any) -> list[str]:
    """Every ARM expression (a string in brackets, not an escaped `[[`) in the template."""
    if isinstance(node, dict):
        return [e for key, value in node.items() for e in expressions(key) + expressions(value)]
    if isinstance(node, list):
        return [e for item in node for e in expressions(item)]
    if isinstance(node, str) and node.startswith("[") and not node.startswith("[["):
        return [node]
    return []


def test_the_template_is_a_resource_group_deployment_template(template: dict[str, Any]) -> None:
    assert template["$schema"] == SCHEMA
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", template["contentVersion"])
    assert set(template) <= {
        "$schema",
        "contentVersion",
        "metadata",
        "parameters",
        "variables",
        "resources",
        "outputs",
    }


def test_the_parameters_are_exactly_the_documented_ones(template: dict[str, Any]) -> None:
    parameters = template["parameters"]
    assert set(parameters) == PARAMETERS
    assert all(p["type"] == "string" for p in parameters.values())
    assert all(p["metadata"]["description"] for p in parameters.values())
    assert parameters["queueName"]["defaultValue"] == "azure-events"
    # the pipeline's rule: 3 to 56 characters, so that `<name>-poison` is a valid queue name
    assert (parameters["queueName"]["minLength"], parameters["queueName"]["maxLength"]) == (3, 56)
    assert (
        parameters["storageAccountName"]["minLength"],
        parameters["storageAccountName"]["maxLength"],
    ) == (3, 24)
    assert parameters["pipelinePrincipalId"]["defaultValue"] == ""
    assert parameters["location"]["defaultValue"] == "[resourceGroup().location]"


def test_every_parameter_and_variable_referenced_is_declared_and_every_one_is_used() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    template = json.loads(text)
    used_parameters = set(re.findall(r"parameters\('([^']*)'\)", text))
    used_variables = set(re.findall(r"variables\('([^']*)'\)", text))

    assert used_parameters == set(template["parameters"])
    assert used_variables == set(template["variables"])


def test_every_expression_is_well_formed_and_calls_only_known_functions(
    template: dict[str, Any],
) -> None:
    found = expressions(template)
    assert len(found) > 20
    for expression in found:
        assert expression.endswith("]"), expression
        body = re.sub(r"'(?:[^']|'')*'", "S", expression[1:-1])  # string literals out
        assert "'" not in body, f"unbalanced quote in {expression}"
        depth = 0
        for char in body:
            depth += {"(": 1, ")": -1}.get(char, 0)
            assert depth >= 0, f"unbalanced parentheses in {expression}"
        assert depth == 0, f"unbalanced parentheses in {expression}"
        called = set(re.findall(r"([A-Za-z_]\w*)\s*\(", body))
        assert called <= ARM_FUNCTIONS, f"{expression} calls {called - ARM_FUNCTIONS}"


def test_every_resource_has_its_type_and_api_version(template: dict[str, Any]) -> None:
    assert all(set(r) >= {"type", "apiVersion", "name"} for r in template["resources"])
    assert Counter((r["type"], r["apiVersion"]) for r in template["resources"]) == RESOURCES


def test_every_dependency_is_a_resource_of_the_template(template: dict[str, Any]) -> None:
    declared = {r["type"] for r in template["resources"]}
    for resource in template["resources"]:
        for dependency in resource.get("dependsOn", []):
            expression = dependency
            if match := re.fullmatch(r"\[variables\('(\w+)'\)\]", dependency):
                expression = template["variables"][match.group(1)]
            match = re.fullmatch(r"\[resourceId\('([^']+)',.*\)\]", expression)
            assert match, f"{resource['type']} depends on {dependency}, not a resourceId"
            assert match.group(1) in declared


def test_the_storage_account_is_locked_down_and_holds_the_queue_and_its_poison_queue(
    template: dict[str, Any],
) -> None:
    account = the(template, "Microsoft.Storage/storageAccounts")
    assert account["kind"] == "StorageV2"
    assert account["sku"]["name"] == "Standard_LRS"
    assert account["location"] == "[parameters('location')]"
    assert account["properties"]["minimumTlsVersion"] == "TLS1_2"
    assert account["properties"]["allowBlobPublicAccess"] is False
    assert account["properties"]["supportsHttpsTrafficOnly"] is True
    # reachable by the pipeline; Event Grid is a trusted service should a firewall be added
    assert account["properties"]["networkAcls"] == {
        "bypass": "AzureServices",
        "defaultAction": "Allow",
    }

    queues = [
        q["name"]
        for q in resources_of(template, "Microsoft.Storage/storageAccounts/queueServices/queues")
    ]
    assert sorted(queues) == [
        "[format('{0}/default/{1}', parameters('storageAccountName'), parameters('queueName'))]",
        "[format('{0}/default/{1}', parameters('storageAccountName'), "
        "variables('poisonQueueName'))]",
    ]
    assert (
        template["variables"]["poisonQueueName"]
        == "[format('{0}-poison', parameters('queueName'))]"
    )


def test_the_system_topic_is_the_subscriptions_own(template: dict[str, Any]) -> None:
    topic = the(template, "Microsoft.EventGrid/systemTopics")
    assert topic["name"] == "[parameters('systemTopicName')]"
    assert topic["location"] == "global"
    assert topic["properties"] == {
        "source": "[subscription().id]",
        "topicType": "Microsoft.Resources.Subscriptions",
    }


def test_the_event_subscription_delivers_the_resource_events_to_the_queue(
    template: dict[str, Any],
) -> None:
    subscription = the(template, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    assert subscription["name"] == (
        "[format('{0}/{1}', parameters('systemTopicName'), parameters('eventSubscriptionName'))]"
    )
    properties = subscription["properties"]

    destination = properties["destination"]
    assert destination["endpointType"] == "StorageQueue"
    assert destination["properties"]["queueName"] == "[parameters('queueName')]"
    assert resolved(template, destination["properties"]["resourceId"]) == (
        "[resourceId('Microsoft.Storage/storageAccounts', parameters('storageAccountName'))]"
    )
    ttl = destination["properties"]["queueMessageTimeToLiveInSeconds"]
    assert ttl == -1 or ttl >= 7 * 24 * 3600

    assert properties["eventDeliverySchema"] == "EventGridSchema"
    event_types = resolved(template, properties["filter"]["includedEventTypes"])
    assert event_types == EVENT_TYPES
    for advanced in properties["filter"].get("advancedFilters", []):
        assert advanced["operatorType"] == "StringNotBeginsWith"
        assert advanced["key"] == "data.operationName"
        assert advanced["values"] == ["Microsoft.Resources/deployments/"]

    retry = properties["retryPolicy"]
    assert 1 <= retry["maxDeliveryAttempts"] <= 30
    assert 1 <= retry["eventTimeToLiveInMinutes"] <= 1440

    # created after its topic and its queue
    assert subscription["dependsOn"] == [
        "[resourceId('Microsoft.EventGrid/systemTopics', parameters('systemTopicName'))]",
        "[resourceId('Microsoft.Storage/storageAccounts/queueServices/queues', "
        "parameters('storageAccountName'), 'default', parameters('queueName'))]",
    ]


def test_the_queue_roles_are_granted_only_when_a_principal_is_given(
    template: dict[str, Any],
) -> None:
    by_role = {}
    for assignment in resources_of(template, "Microsoft.Authorization/roleAssignments"):
        assert assignment["condition"] == "[not(empty(parameters('pipelinePrincipalId')))]"
        assert assignment["properties"]["principalId"] == "[parameters('pipelinePrincipalId')]"
        role = resolved(template, assignment["properties"]["roleDefinitionId"])
        match = re.fullmatch(
            r"\[subscriptionResourceId\('Microsoft\.Authorization/roleDefinitions', "
            r"'([0-9a-f-]{36})'\)\]",
            role,
        )
        assert match, role
        # a deterministic name: redeploying updates the assignment instead of failing
        assert assignment["name"].startswith("[guid(")
        assert "parameters('pipelinePrincipalId')" in assignment["name"]
        by_role[match.group(1)] = assignment["scope"]

    assert by_role == {
        MESSAGE_PROCESSOR: "[format('Microsoft.Storage/storageAccounts/{0}', "
        "parameters('storageAccountName'))]",
        MESSAGE_SENDER: "[format('Microsoft.Storage/storageAccounts/{0}/queueServices/default/"
        "queues/{1}', parameters('storageAccountName'), variables('poisonQueueName'))]",
    }


def test_the_outputs_are_what_the_pipeline_is_given(template: dict[str, Any]) -> None:
    outputs = template["outputs"]
    assert set(outputs) == {"queueName", "queueServiceUrl", "storageAccountName"}
    assert all(o["type"] == "string" for o in outputs.values())
    assert outputs["queueName"]["value"] == "[parameters('queueName')]"
    assert outputs["storageAccountName"]["value"] == "[parameters('storageAccountName')]"
    # the account's queue endpoint, https://<account>.queue.core.windows.net/ in Azure's cloud
    assert outputs["queueServiceUrl"]["value"] == (
        "[reference(variables('storageAccountId'), '2023-01-01').primaryEndpoints.queue]"
    )
    assert template["variables"]["storageAccountId"] == (
        "[resourceId('Microsoft.Storage/storageAccounts', parameters('storageAccountName'))]"
    )


# --- the az CLI script --------------------------------------------------------------------------


def test_the_script_is_valid_bash_and_passes_shellcheck_where_installed() -> None:
    syntax = subprocess.run(
        ["bash", "-n", str(SETUP)], capture_output=True, text=True, timeout=30, check=False
    )
    assert syntax.returncode == 0, syntax.stderr
    shellcheck = shutil.which("shellcheck")
    if shellcheck:  # not a dependency of the project: runs where it happens to be installed
        lint = subprocess.run(
            [shellcheck, "--shell=bash", str(SETUP)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_script_reads_as_the_readme_says() -> None:
    script = SETUP.read_text(encoding="utf-8")
    assert script.startswith("#!/usr/bin/env bash\n")
    assert re.search(r"^set -euo pipefail$", script, re.MULTILINE)
    for variable in ("SUBSCRIPTION_ID", "SUBSCRIPTION_IDS", "RESOURCE_GROUP", "LOCATION"):
        assert re.search(rf'^{variable}="\$\{{{variable}:-', script, re.MULTILINE), variable
    assert re.search(r'^QUEUE_NAME="\$\{QUEUE_NAME:-azure-events\}"$', script, re.MULTILINE)
    assert re.search(r'^PRINCIPAL_ID="\$\{PRINCIPAL_ID:-\}"$', script, re.MULTILINE)
    assert re.search(r'^STORAGE_ACCOUNT="\$\{STORAGE_ACCOUNT:-', script, re.MULTILINE)

    commands = re.sub(r"\\\n\s*", " ", script)  # continuation lines joined
    topic = re.search(r"az eventgrid system-topic create .*", commands)
    assert topic
    assert "--topic-type Microsoft.Resources.Subscriptions" in topic.group()
    assert '--source "/subscriptions/$subscription"' in topic.group()
    assert "--location global" in topic.group()

    subscription = re.search(r"az eventgrid system-topic event-subscription create .*", commands)
    assert subscription
    assert "--endpoint-type storagequeue" in subscription.group()
    assert "/queueservices/default/queues/$QUEUE_NAME" in subscription.group()
    assert "--event-delivery-schema eventgridschema" in subscription.group()
    assert '--included-event-types "${EVENT_TYPES[@]}"' in subscription.group()
    listed = re.search(r"^EVENT_TYPES=\(\n(.*?)\n\)$", script, re.MULTILINE | re.DOTALL)
    assert listed
    assert listed.group(1).split() == EVENT_TYPES

    assert re.search(r"az storage queue create .*--auth-mode login", commands)
    assert re.search(r'--role "Storage Queue Data Message Processor"', commands)
    assert re.search(r"^\s*echo \"\s*AZURE_EVENTS_QUEUE_NAME=\$QUEUE_NAME\"$", script, re.MULTILINE)
    assert "AZURE_EVENTS_QUEUE_ACCOUNT_URL=" in script
    assert "AZURE_EVENTS_QUEUE_CONNECTION_STRING" in script
    # never a key: no command that reads one runs, the connection string command is only printed
    assert not re.search(r"az storage account keys", script)
    assert not re.search(r"\$\(\s*az storage account show-connection-string", script)


FAKE_AZ = r"""#!/usr/bin/env bash
# A stand-in for the az CLI: records its argv (fields separated by 0x1f) and answers the reads.
printf '%s\x1f' "$@" >> "$FAKE_AZ_LOG"
printf '\n' >> "$FAKE_AZ_LOG"
args=" $* "
case "$1 $2 $3" in
  "account show "*) echo "$FAKE_CURRENT_SUBSCRIPTION" ;;
  "storage account show")
    if [[ "$args" == *" primaryEndpoints.queue "* ]]; then
      echo "https://fakeaccount.queue.core.windows.net/"
    else
      echo "$FAKE_ACCOUNT_ID"
    fi ;;
  "storage queue create")
    if [[ -n "${FAKE_NO_DATA_ROLE:-}" ]]; then
      echo "ERROR: AuthorizationPermissionMismatch" >&2
      exit 1
    fi ;;
  "eventgrid system-topic list")
    printf 'blobs\tother-rg\t%s\tmicrosoft.storage.storageaccounts\n' \
      "/subscriptions/x/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/s"
    if [[ "$args" == *" --subscription ${FAKE_TOPIC_SUBSCRIPTION:-none} "* ]]; then
      printf 'existing-topic\texisting-rg\t/subscriptions/%s\tmicrosoft.resources.subscriptions\n' \
        "$FAKE_TOPIC_SUBSCRIPTION"
    fi ;;
  "storage account keys" | "storage account show-connection-string")
    echo "DefaultEndpointsProtocol=https;AccountName=fakeaccount;AccountKey=$FAKE_KEY" ;;
esac
exit 0
"""
HOME_SUBSCRIPTION = "11111111-1111-4111-8111-111111111111"
OTHER_SUBSCRIPTION = "22222222-2222-4222-8222-222222222222"
CURRENT_SUBSCRIPTION = "33333333-3333-4333-8333-333333333333"
ACCOUNT_ID = (
    f"/subscriptions/{HOME_SUBSCRIPTION}/resourceGroups/azure-port-pipeline/providers/"
    "Microsoft.Storage/storageAccounts/fakeaccount"
)
FAKE_KEY = "ZmFrZS1rZXktbmV2ZXItdG8tYmUtcHJpbnRlZA=="


def run_setup(
    tmp_path: Path, **variables: str
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Runs setup.sh with the stand-in az first on PATH; (the process, every az argv)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "az"
    fake.write_text(FAKE_AZ, encoding="utf-8")
    fake.chmod(0o755)
    log = tmp_path / "az.log"
    log.write_text("", encoding="utf-8")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path),
        "LC_ALL": "C",
        "FAKE_AZ_LOG": str(log),
        "FAKE_CURRENT_SUBSCRIPTION": CURRENT_SUBSCRIPTION,
        "FAKE_ACCOUNT_ID": ACCOUNT_ID,
        "FAKE_KEY": FAKE_KEY,
        **variables,
    }
    process = subprocess.run(
        ["bash", str(SETUP)],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    calls = [line.split("\x1f")[:-1] for line in log.read_text(encoding="utf-8").splitlines()]
    return process, calls


def option(argv: list[str], name: str) -> list[str]:
    """The values after `name` in an az argv, up to the next `--option`."""
    index = argv.index(name)
    values = []
    for value in argv[index + 1 :]:
        if value.startswith("--"):
            break
        values.append(value)
    return values


def commands(calls: list[list[str]], *words: str) -> list[list[str]]:
    return [c for c in calls if c[: len(words)] == list(words)]


def test_the_script_wires_several_subscriptions_into_one_queue(tmp_path: Path) -> None:
    process, calls = run_setup(
        tmp_path,
        SUBSCRIPTION_ID=HOME_SUBSCRIPTION,
        SUBSCRIPTION_IDS=f"{HOME_SUBSCRIPTION} {OTHER_SUBSCRIPTION}",
        PRINCIPAL_ID="44444444-4444-4444-8444-444444444444",
        FAKE_TOPIC_SUBSCRIPTION=OTHER_SUBSCRIPTION,
    )
    assert process.returncode == 0, process.stderr

    assert calls[0] == ["account", "set", "--subscription", HOME_SUBSCRIPTION]
    assert not commands(calls, "account", "show")
    (account,) = commands(calls, "storage", "account", "create")
    assert option(account, "--kind") == ["StorageV2"]
    assert option(account, "--sku") == ["Standard_LRS"]
    assert option(account, "--min-tls-version") == ["TLS1_2"]
    assert option(account, "--allow-blob-public-access") == ["false"]
    queues = commands(calls, "storage", "queue", "create")
    assert [option(q, "--name") for q in queues] == [["azure-events"], ["azure-events-poison"]]
    assert all(option(q, "--auth-mode") == ["login"] for q in queues)

    roles = {
        option(c, "--role")[0]: option(c, "--scope")[0]
        for c in commands(calls, "role", "assignment", "create")
    }
    assert roles == {
        "Storage Queue Data Message Processor": ACCOUNT_ID,
        "Storage Queue Data Message Sender": f"{ACCOUNT_ID}/queueServices/default/queues/"
        "azure-events-poison",
    }

    # the first subscription gets a new system topic; the other one's existing topic is reused
    (topic,) = commands(calls, "eventgrid", "system-topic", "create")
    assert option(topic, "--subscription") == [HOME_SUBSCRIPTION]
    assert option(topic, "--topic-type") == ["Microsoft.Resources.Subscriptions"]
    assert option(topic, "--source") == [f"/subscriptions/{HOME_SUBSCRIPTION}"]
    assert option(topic, "--location") == ["global"]

    deliveries = commands(calls, "eventgrid", "system-topic", "event-subscription", "create")
    assert [option(d, "--subscription") for d in deliveries] == [
        [HOME_SUBSCRIPTION],
        [OTHER_SUBSCRIPTION],
    ]
    assert [
        (option(d, "--system-topic-name"), option(d, "--resource-group")) for d in deliveries
    ] == [
        (["azure-port-resources"], ["azure-port-pipeline"]),
        (["existing-topic"], ["existing-rg"]),
    ]
    for delivery in deliveries:
        assert option(delivery, "--endpoint-type") == ["storagequeue"]
        assert option(delivery, "--endpoint") == [
            f"{ACCOUNT_ID}/queueservices/default/queues/azure-events"
        ]
        assert option(delivery, "--included-event-types") == EVENT_TYPES
        assert option(delivery, "--event-delivery-schema") == ["eventgridschema"]
    for subscription in (HOME_SUBSCRIPTION, OTHER_SUBSCRIPTION):
        registered = [c for c in commands(calls, "provider", "register") if subscription in c]
        assert option(registered[0], "--namespace") == ["Microsoft.EventGrid"]

    assert "AZURE_EVENTS_QUEUE_NAME=azure-events\n" in process.stdout
    assert (
        "AZURE_EVENTS_QUEUE_ACCOUNT_URL=https://fakeaccount.queue.core.windows.net\n"
        in process.stdout
    )
    assert "AZURE_EVENTS_QUEUE_CONNECTION_STRING" in process.stdout
    assert "az storage account show-connection-string" in process.stdout
    assert not commands(calls, "storage", "account", "keys")
    assert not commands(calls, "storage", "account", "show-connection-string")
    assert FAKE_KEY not in process.stdout + process.stderr


def test_the_script_defaults_to_the_current_subscription_and_creates_queues_through_arm(
    tmp_path: Path,
) -> None:
    """Without a data role `az storage queue create --auth-mode login` is refused: the queues
    are then created through ARM (as the template does); no principal, no role assignment."""
    process, calls = run_setup(tmp_path, FAKE_NO_DATA_ROLE="1")
    assert process.returncode == 0, process.stderr

    assert calls[0][:2] == ["account", "show"]
    assert calls[1] == ["account", "set", "--subscription", CURRENT_SUBSCRIPTION]
    urls = [option(c, "--url") for c in commands(calls, "rest", "--method", "put")]
    assert urls == [
        [f"{ACCOUNT_ID}/queueServices/default/queues/{name}?api-version=2023-01-01"]
        for name in ("azure-events", "azure-events-poison")
    ]
    assert not commands(calls, "role", "assignment", "create")
    (delivery,) = commands(calls, "eventgrid", "system-topic", "event-subscription", "create")
    assert option(delivery, "--subscription") == [CURRENT_SUBSCRIPTION]
    (account,) = commands(calls, "storage", "account", "create")
    assert option(account, "--name") == ["azportev" + CURRENT_SUBSCRIPTION.replace("-", "")[:16]]
    assert "PRINCIPAL_ID=<object id>" in process.stdout
    assert "AZURE_EVENTS_QUEUE_NAME=azure-events\n" in process.stdout


@pytest.mark.parametrize(
    ("queue_name", "accepted"),
    [
        ("abc", True),
        ("a-b", True),
        ("port-events-2", True),
        ("q" * 56, True),
        ("q" * 57, False),
        ("ab", False),
        ("Azure-Events", False),
        ("a--b", False),
        ("-ab", False),
        ("ab-", False),
    ],
)
def test_the_script_refuses_a_queue_name_the_pipeline_would(
    tmp_path: Path, queue_name: str, accepted: bool
) -> None:
    process, calls = run_setup(tmp_path, SUBSCRIPTION_ID=HOME_SUBSCRIPTION, QUEUE_NAME=queue_name)
    if accepted:
        assert process.returncode == 0, process.stderr
        assert f"AZURE_EVENTS_QUEUE_NAME={queue_name}\n" in process.stdout
    else:
        assert process.returncode == 2
        assert "QUEUE_NAME must be" in process.stderr
        assert calls == []


# --- the README --------------------------------------------------------------------------------


def test_the_readme_names_the_commands_and_the_pipeline_variables() -> None:
    readme = README.read_text(encoding="utf-8")
    assert "az deployment group create" in readme
    assert "--template-file deploy/azure/event-grid.json" in readme
    assert "pipelinePrincipalId=" in readme
    assert "bash deploy/azure/setup.sh" in readme
    for variable in PIPELINE_VARIABLES:
        assert variable in readme
    assert "Storage Queue Data Message Processor" in readme
    assert "base64" in readme
