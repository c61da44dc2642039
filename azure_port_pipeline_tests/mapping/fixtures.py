"""Hand-written raw Azure objects, shaped as the SDK / ARM REST API return them.

The subscription is an SDK `as_dict()` record (snake_case); everything else keeps the ARM REST
shape (`properties.provisioningState`), with the mixed-case resource-group segments real ids
carry (`resourceGroups/My-RG`), which Port's default mapping lower-cases.
"""

from __future__ import annotations

SUB = "8f3c1a52-6d7e-4b8a-9c0d-1e2f3a4b5c6d"
SUB_ID = f"/subscriptions/{SUB}"
RG_ID = f"{SUB_ID}/resourceGroups/My-RG"
RG_ID_PORT = f"{SUB_ID}/resourcegroups/my-rg"

SUBSCRIPTION = {
    "id": SUB_ID,
    "subscription_id": SUB,
    "display_name": "Contoso Production",
    "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "state": "Enabled",
    "subscription_policies": {
        "location_placement_id": "Public_2014-09-01",
        "quota_id": "EnterpriseAgreement_2014-09-01",
        "spending_limit": "Off",
    },
    "authorization_source": "RoleBased",
    "managed_by_tenants": [],
    "tags": {"costCenter": "4711", "owner": "platform"},
}

# resource groups listed through the SDK come back as_dict(): `provisioning_state`
RESOURCE_GROUP = {
    "id": RG_ID,
    "name": "My-RG",
    "type": "Microsoft.Resources/resourceGroups",
    "location": "westeurope",
    "managed_by": None,
    "tags": {"env": "prod"},
    "properties": {"provisioning_state": "Succeeded"},
}

# ... while the REST API (and Resource Graph) spell it `provisioningState`
RESOURCE_GROUP_REST = {
    "id": f"{SUB_ID}/resourceGroups/Data_Platform",
    "name": "Data_Platform",
    "type": "Microsoft.Resources/resourceGroups",
    "location": "northeurope",
    "tags": {},
    "properties": {"provisioningState": "Deleting"},
}

STORAGE_ACCOUNT = {
    "id": f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/contosoprodst01",
    "name": "contosoprodst01",
    "type": "Microsoft.Storage/storageAccounts",
    "location": "westeurope",
    "tags": {"env": "prod", "team": "data"},
    "sku": {"name": "Standard_GRS", "tier": "Standard"},
    "kind": "StorageV2",
    "properties": {
        "provisioningState": "Succeeded",
        "creationTime": "2023-02-14T09:21:44.1234567Z",
        "primaryLocation": "westeurope",
        "secondaryLocation": "northeurope",
        "statusOfPrimary": "available",
        "statusOfSecondary": "available",
        "primaryEndpoints": {
            "blob": "https://contosoprodst01.blob.core.windows.net/",
            "queue": "https://contosoprodst01.queue.core.windows.net/",
            "table": "https://contosoprodst01.table.core.windows.net/",
            "file": "https://contosoprodst01.file.core.windows.net/",
        },
        "accessTier": "Hot",
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": False,
        "supportsHttpsTrafficOnly": True,
        "networkAcls": {"bypass": "AzureServices", "defaultAction": "Deny", "ipRules": []},
        "encryption": {
            "keySource": "Microsoft.Storage",
            "services": {"blob": {"enabled": True, "keyType": "Account"}},
        },
    },
}

VIRTUAL_MACHINE = {
    "id": f"{RG_ID}/providers/Microsoft.Compute/virtualMachines/web-01",
    "name": "web-01",
    "type": "Microsoft.Compute/virtualMachines",
    "location": "westeurope",
    "tags": {"role": "web"},
    "zones": ["1"],
    "properties": {
        "vmId": "0f3c3d1e-2b7a-4c5e-9a8b-7c6d5e4f3a2b",
        "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
        "storageProfile": {
            "imageReference": {
                "publisher": "Canonical",
                "offer": "0001-com-ubuntu-server-jammy",
                "sku": "22_04-lts-gen2",
                "version": "latest",
            },
            "osDisk": {"osType": "Linux", "name": "web-01_OsDisk_1", "createOption": "FromImage"},
        },
        "osProfile": {"computerName": "web-01", "adminUsername": "azureuser"},
        "networkProfile": {
            "networkInterfaces": [
                {"id": f"{RG_ID}/providers/Microsoft.Network/networkInterfaces/web-01-nic"}
            ]
        },
        "provisioningState": "Succeeded",
        "timeCreated": "2023-06-01T12:00:00.0000000Z",
    },
}

MANAGED_CLUSTER = {
    "id": f"{SUB_ID}/resourcegroups/AKS-Prod/providers"
    "/Microsoft.ContainerService/managedClusters/aks-prod",
    "name": "aks-prod",
    "type": "Microsoft.ContainerService/managedClusters",
    "location": "eastus2",
    "tags": None,
    "sku": {"name": "Base", "tier": "Standard"},
    "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
    "properties": {
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
        "kubernetesVersion": "1.27.7",
        "dnsPrefix": "aks-prod-dns",
        "fqdn": "aks-prod-dns-abc123.hcp.eastus2.azmk8s.io",
        "agentPoolProfiles": [
            {"name": "system", "count": 3, "vmSize": "Standard_D4s_v5", "mode": "System"}
        ],
        "nodeResourceGroup": "MC_AKS-Prod_aks-prod_eastus2",
        "enableRBAC": True,
        "networkProfile": {"networkPlugin": "azure", "loadBalancerSku": "standard"},
    },
}

CONTAINER_APP = {
    "id": f"{RG_ID}/providers/Microsoft.App/containerApps/orders-api",
    "name": "orders-api",
    "type": "Microsoft.App/containerApps",
    "location": "West Europe",
    "tags": {"service": "orders"},
    "systemData": {"createdBy": "ci@contoso.com", "createdAt": "2023-07-01T10:00:00Z"},
    "properties": {
        "provisioningState": "Succeeded",
        "managedEnvironmentId": f"{RG_ID}/providers/Microsoft.App/managedEnvironments/prod-env",
        "latestRevisionName": "orders-api--r7",
        "latestRevisionFqdn": "orders-api--r7.kindsea-1234.westeurope.azurecontainerapps.io",
        "configuration": {"ingress": {"external": True, "targetPort": 8080}},
        "template": {"containers": [{"image": "contoso.azurecr.io/orders:1.4.2", "name": "api"}]},
    },
}

LOAD_BALANCER = {
    "id": f"{RG_ID}/providers/Microsoft.Network/loadBalancers/web-lb",
    "name": "web-lb",
    "type": "Microsoft.Network/loadBalancers",
    "location": "westeurope",
    "etag": 'W/"3f6a1c2e-0000-0000-0000-000000000000"',
    "sku": {"name": "Standard", "tier": "Regional"},
    "tags": {},
    "properties": {
        "provisioningState": "Succeeded",
        "resourceGuid": "6f1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
        "frontendIPConfigurations": [
            {"name": "fe", "properties": {"privateIPAddress": "10.0.0.4"}}
        ],
        "backendAddressPools": [{"name": "web-pool"}],
        "loadBalancingRules": [],
        "probes": [],
    },
}
