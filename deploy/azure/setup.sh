#!/usr/bin/env bash
# The Azure side of azure-port-pipeline's real-time sync, with the az CLI: what
# deploy/azure/event-grid.json creates, for one subscription or several.
#
#   - a storage account (StorageV2, Standard_LRS, TLS 1.2, no public blob access) holding the
#     queue $QUEUE_NAME and its poison queue $QUEUE_NAME-poison;
#   - in every subscription of $SUBSCRIPTION_IDS: its Event Grid system topic (type
#     Microsoft.Resources.Subscriptions; a subscription has at most one, which is reused when it
#     exists) and an event subscription delivering Microsoft.Resources.ResourceWriteSuccess,
#     ResourceDeleteSuccess and ResourceActionSuccess to the one queue (Event Grid schema, one
#     event per message, base64 JSON). Each Azure subscription needs its own event subscription:
#     Event Grid raises resource events per subscription;
#   - with $PRINCIPAL_ID, that identity's roles for DefaultAzureCredential: Storage Queue Data
#     Message Processor on the account (receive, delete) and Storage Queue Data Message Sender
#     on the poison queue (the pipeline moves unreadable messages there).
#
# Usage (after `az login`; every variable below can be set in the environment):
#   bash deploy/azure/setup.sh
#   SUBSCRIPTION_ID=<queue's subscription> SUBSCRIPTION_IDS="<id> <id> ..." \
#     PRINCIPAL_ID=<object id of the pipeline's identity> bash deploy/azure/setup.sh
#
# Rerunning it is safe: every step creates or updates. It never reads, prints or stores an
# account key: the end prints the command that gives a connection string, not the string.
set -euo pipefail

# The subscription holding the storage account and the queue (default: the az CLI's current one).
SUBSCRIPTION_ID="${SUBSCRIPTION_ID:-$(az account show --query id --output tsv)}"
# The subscriptions whose resources are synced, space-separated (default: just SUBSCRIPTION_ID).
SUBSCRIPTION_IDS="${SUBSCRIPTION_IDS:-$SUBSCRIPTION_ID}"
# The resource group of the storage account, and of each new system topic (in its subscription).
RESOURCE_GROUP="${RESOURCE_GROUP:-azure-port-pipeline}"
LOCATION="${LOCATION:-westeurope}"
compact_subscription="${SUBSCRIPTION_ID//-/}"
# 3-24 lower-case letters and digits, unique in Azure (default: derived from the subscription).
STORAGE_ACCOUNT="${STORAGE_ACCOUNT:-azportev${compact_subscription:0:16}}"
QUEUE_NAME="${QUEUE_NAME:-azure-events}"
SYSTEM_TOPIC="${SYSTEM_TOPIC:-azure-port-resources}"
EVENT_SUBSCRIPTION="${EVENT_SUBSCRIPTION:-azure-port-pipeline}"
# Object id of the identity the pipeline signs in as with DefaultAzureCredential (optional).
PRINCIPAL_ID="${PRINCIPAL_ID:-}"
# ServicePrincipal (also managed identities), User or Group.
PRINCIPAL_TYPE="${PRINCIPAL_TYPE:-ServicePrincipal}"

EVENT_TYPES=(
  Microsoft.Resources.ResourceWriteSuccess
  Microsoft.Resources.ResourceDeleteSuccess
  Microsoft.Resources.ResourceActionSuccess
)
POISON_QUEUE="${QUEUE_NAME}-poison"
STORAGE_API_VERSION="2023-01-01"

fail() {
  echo "setup.sh: $*" >&2
  exit 2
}

[[ "$STORAGE_ACCOUNT" =~ ^[a-z0-9]{3,24}$ ]] ||
  fail "STORAGE_ACCOUNT must be 3 to 24 lower-case letters and digits, not '$STORAGE_ACCOUNT'"
[[ ${#QUEUE_NAME} -ge 3 && ${#QUEUE_NAME} -le 56 && "$QUEUE_NAME" =~ ^[a-z0-9](-?[a-z0-9])*$ ]] ||
  fail "QUEUE_NAME must be 3 to 56 lower-case letters, digits and single hyphens, not '$QUEUE_NAME'"
[[ -n "${SUBSCRIPTION_IDS// /}" ]] || fail "SUBSCRIPTION_IDS is empty"

# Prints "name<TAB>resource group" of the subscription's system topic, if it has one.
existing_system_topic() {
  local subscription="$1"
  az eventgrid system-topic list --subscription "$subscription" \
    --query "[].[name, resourceGroup, source, topicType]" --output tsv |
    awk -F '\t' -v source="/subscriptions/$subscription" '
      tolower($3) == tolower(source) && tolower($4) == "microsoft.resources.subscriptions" {
        print $1 "\t" $2
        exit
      }'
}

# Creates a queue with the signed-in identity (needs a data role such as Storage Queue Data
# Contributor); without one, through ARM like the template (Contributor on the account is enough).
create_queue() {
  local name="$1"
  if ! az storage queue create --name "$name" --account-name "$STORAGE_ACCOUNT" \
    --auth-mode login --output none 2>/dev/null; then
    echo "  (no data role for 'az storage queue create --auth-mode login': creating $name through ARM)"
    az rest --method put \
      --url "${account_id}/queueServices/default/queues/${name}?api-version=${STORAGE_API_VERSION}" \
      --body '{"properties": {}}' --output none
  fi
}

echo "Storage account $STORAGE_ACCOUNT and queue $QUEUE_NAME in subscription $SUBSCRIPTION_ID"
az account set --subscription "$SUBSCRIPTION_ID"
az provider register --namespace Microsoft.Storage --wait --output none
az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --output none
az storage account create --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" \
  --location "$LOCATION" --kind StorageV2 --sku Standard_LRS --min-tls-version TLS1_2 \
  --allow-blob-public-access false --https-only true --bypass AzureServices \
  --default-action Allow --output none
account_id="$(az storage account show --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" \
  --query id --output tsv)"
queue_url="$(az storage account show --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" \
  --query primaryEndpoints.queue --output tsv)"
queue_url="${queue_url%/}"
create_queue "$QUEUE_NAME"
create_queue "$POISON_QUEUE"

if [[ -n "$PRINCIPAL_ID" ]]; then
  echo "Queue roles for principal $PRINCIPAL_ID"
  az role assignment create --assignee-object-id "$PRINCIPAL_ID" \
    --assignee-principal-type "$PRINCIPAL_TYPE" --role "Storage Queue Data Message Processor" \
    --scope "$account_id" --output none
  az role assignment create --assignee-object-id "$PRINCIPAL_ID" \
    --assignee-principal-type "$PRINCIPAL_TYPE" --role "Storage Queue Data Message Sender" \
    --scope "$account_id/queueServices/default/queues/$POISON_QUEUE" --output none
fi

# One system topic and one event subscription per Azure subscription, all into the one queue.
for subscription in $SUBSCRIPTION_IDS; do
  echo "Event Grid for subscription $subscription"
  az provider register --namespace Microsoft.EventGrid --subscription "$subscription" --wait \
    --output none
  found="$(existing_system_topic "$subscription")"
  if [[ -n "$found" ]]; then
    IFS=$'\t' read -r topic topic_group <<<"$found"
    echo "  using its existing system topic $topic (resource group $topic_group)"
  else
    topic="$SYSTEM_TOPIC"
    topic_group="$RESOURCE_GROUP"
    az group create --subscription "$subscription" --name "$topic_group" --location "$LOCATION" \
      --output none
    az eventgrid system-topic create --subscription "$subscription" --name "$topic" \
      --resource-group "$topic_group" --location global \
      --topic-type Microsoft.Resources.Subscriptions --source "/subscriptions/$subscription" \
      --output none
  fi
  az eventgrid system-topic event-subscription create --subscription "$subscription" \
    --name "$EVENT_SUBSCRIPTION" --system-topic-name "$topic" --resource-group "$topic_group" \
    --endpoint-type storagequeue \
    --endpoint "$account_id/queueservices/default/queues/$QUEUE_NAME" \
    --included-event-types "${EVENT_TYPES[@]}" \
    --advanced-filter data.operationName StringNotBeginsWith Microsoft.Resources/deployments/ \
    --event-delivery-schema eventgridschema \
    --storage-queue-msg-ttl -1 --max-delivery-attempts 30 --event-ttl 1440 --output none
done

echo
echo "Done. Give the pipeline (the Dagster code location and daemon) these variables:"
echo
echo "  AZURE_EVENTS_QUEUE_NAME=$QUEUE_NAME"
echo "  AZURE_EVENTS_QUEUE_ACCOUNT_URL=$queue_url"
echo
if [[ -z "$PRINCIPAL_ID" ]]; then
  echo "The account URL signs in with DefaultAzureCredential: rerun with PRINCIPAL_ID=<object id>"
  echo "to give that identity its queue roles (or assign them yourself)."
fi
echo "Or, instead of AZURE_EVENTS_QUEUE_ACCOUNT_URL, a connection string (a secret: keep it in"
echo "your secret store), which this prints:"
echo
printf '  az storage account show-connection-string --name %s --resource-group %s \\\n' \
  "$STORAGE_ACCOUNT" "$RESOURCE_GROUP"
printf '    --subscription %s --query connectionString --output tsv\n' "$SUBSCRIPTION_ID"
echo
echo "  as AZURE_EVENTS_QUEUE_CONNECTION_STRING."
