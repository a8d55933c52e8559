"""Template expansion into a Plan: parameters, variables, copy, condition, dependsOn, order, outputs,
nested deployments, refusals, and Azure's own gallery quickstart templates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from galleries.arm.evaluator import Scope
from galleries.arm.expand import expand, flatten
from portal.core.errors import ServiceError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "templates"
SUB = "00000000-0000-0000-0000-000000000001"
SCOPE = Scope(SUB, resource_group="rg1", location="westeurope", deployment_name="dep")
RG = f"/subscriptions/{SUB}/resourceGroups/rg1"
GALLERY = f"{RG}/providers/Microsoft.Compute/galleries"
VERSIONS = {
    "Microsoft.Compute/galleries": {"2019-12-01", "2020-09-30", "2022-03-03"},
    "Microsoft.Compute/galleries/images": {"2019-12-01", "2020-09-30", "2022-03-03"},
    "Microsoft.Compute/galleries/images/versions": {"2019-12-01", "2020-09-30", "2022-03-03"},
    "Microsoft.Resources/resourceGroups": {"2021-04-01"},
}


def api_versions(resource_type):
    return next((v for k, v in VERSIONS.items() if k.lower() == resource_type.lower()), None)


def template(resources=None, **sections):
    return {"$schema": "x", "contentVersion": "1.0.0.0", "resources": resources or [], **sections}


def gallery(name="g", **extra):
    return {
        "type": "Microsoft.Compute/galleries",
        "apiVersion": "2022-03-03",
        "name": name,
        "location": "westeurope",
        **extra,
    }


def image(name, **extra):
    return {"type": "Microsoft.Compute/galleries/images", "apiVersion": "2022-03-03", "name": name, **extra}


def refused(tmpl, parameters=None, scope=SCOPE, code="InvalidTemplate") -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        expand(tmpl, parameters, scope, api_versions).outputs()
    assert caught.value.code == code, caught.value.message
    return caught.value


def load(name):
    folder = FIXTURES / name
    return json.loads((folder / "azuredeploy.json").read_text()), json.loads(
        (folder / "azuredeploy.parameters.json").read_text()
    )


# --- Azure's quickstart templates --------------------------------------------------------------------


def test_quickstart_sig_create():
    tmpl, params = load("sig-create")
    plan = expand(tmpl, params, SCOPE, api_versions)
    (resource,) = plan.resources
    assert resource.id == f"{GALLERY}/GEN-UNIQUE"
    assert (resource.type, resource.name, resource.api_version) == (
        "Microsoft.Compute/galleries",
        "GEN-UNIQUE",
        "2019-12-01",
    )
    assert resource.location == "westeurope"
    assert resource.properties == {"description": "My Private Gallery"}
    assert plan.batches == [[resource.id]] and plan.outputs() == {}


def test_quickstart_sig_image_definition_create():
    tmpl, params = load("sig-image-definition-create")
    plan = expand(tmpl, params, SCOPE, api_versions)
    (resource,) = plan.resources
    assert resource.id == f"{GALLERY}/GET-PREREQ-galleryName/images/GEN-UNIQUE"
    assert resource.name == "GET-PREREQ-galleryName/GEN-UNIQUE"
    assert resource.properties["identifier"] == {
        "publisher": "myPublisher",
        "offer": "myOffer",
        "sku": "mySku",
    }
    assert resource.properties["recommended"] == {
        "vCPUs": {"min": "1", "max": "64"},
        "memory": {"min": "2048", "max": "307720"},
    }
    assert resource.properties["osType"] == "Linux" and resource.properties["endOfLifeDate"] == "2030-01-01"


def test_quickstart_sig_image_version_create():
    tmpl, params = load("sig-image-version-create")
    plan = expand(tmpl, params, Scope(SUB, resource_group="rg1", location="eastus"), api_versions)
    (resource,) = plan.resources
    assert (
        resource.id
        == f"{GALLERY}/GET-PREREQ-galleryName/images/GET-PREREQ-galleryImageDefinitionName/versions/0.0.1"
    )
    assert resource.api_version == "2020-09-30" and resource.location == "eastus"
    assert resource.properties == {
        "publishingProfile": {"replicaCount": 1, "targetRegions": [{"name": "eastus"}]},
        "storageProfile": {
            "source": {"id": "GET-PREREQ-managedImageID"},
            "osDiskImage": {"hostCaching": "ReadWrite"},
        },
    }
    assert plan.outputs() == {
        "existingGalleryName": {"type": "String", "value": "GET-PREREQ-galleryName"},
        "galleryImageVersion": {"type": "String", "value": "0.0.1"},
        "existingGalleryImageDefinitionName": {
            "type": "String",
            "value": "GET-PREREQ-galleryImageDefinitionName",
        },
    }


def test_quickstart_without_its_required_parameter_is_refused():
    tmpl, _ = load("sig-create")
    error = refused(tmpl, {})
    assert error.message == (
        "Deployment template validation failed: 'The value for the template parameter 'galleryName' at "
        "'parameters.galleryName' is not provided. Please see https://aka.ms/arm-create-parameter-file for usage details.'"
    )
    assert error.target == "parameters.galleryName"


# --- api versions --------------------------------------------------------------------------------------


def test_api_version_the_api_does_not_accept_is_refused():
    error = refused(template([gallery(apiVersion="2015-01-01")]), code="NoRegisteredProviderFound")
    assert "2015-01-01" in error.message and error.target == "resources[0].apiVersion"


def test_resource_type_the_api_does_not_serve_is_refused():
    resource = {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "s"}
    assert "storageAccounts" in refused(template([resource]), code="InvalidResourceType").message


# --- parameters ------------------------------------------------------------------------------------------


def declared(**kwargs):
    return template(
        parameters={"p": kwargs}, outputs={"o": {"type": kwargs["type"], "value": "[parameters('p')]"}}
    )


@pytest.mark.parametrize(
    ("declaration", "value"),
    [
        ({"type": "string"}, "x"),
        ({"type": "securestring"}, "s3cret"),
        ({"type": "int"}, 3),
        ({"type": "bool"}, True),
        ({"type": "object"}, {"a": 1}),
        ({"type": "secureObject"}, {"a": 1}),
        ({"type": "array"}, [1, 2]),
    ],
)
def test_parameter_types(declaration, value):
    plan = expand(declared(**declaration), {"p": {"value": value}}, SCOPE)
    secure = declaration["type"].lower().startswith("secure")
    assert plan.parameters["p"] == value
    assert plan.outputs()["o"].get("value") == (None if secure else value)
    assert ("p" in plan.secure_parameters) == secure


def test_parameter_of_the_wrong_type_is_refused():
    error = refused(declared(type="int"), {"p": {"value": "3"}})
    assert "Expected a value of type 'Integer', but received a value of type 'String'." in error.message


def test_default_value_may_use_expressions_and_earlier_parameters():
    tmpl = template(
        parameters={
            "a": {"type": "string", "defaultValue": "x"},
            "b": {"type": "string", "defaultValue": "[concat(parameters('a'), '-', resourceGroup().name)]"},
        },
        outputs={"o": {"type": "string", "value": "[parameters('b')]"}},
    )
    assert expand(tmpl, None, SCOPE).outputs()["o"]["value"] == "x-rg1"


def test_default_value_may_use_new_guid_and_utc_now():
    tmpl = template(
        parameters={
            "id": {"type": "string", "defaultValue": "[newGuid()]"},
            "t": {"type": "string", "defaultValue": "[utcNow()]"},
        }
    )
    assert len(expand(tmpl, None, SCOPE).parameters["id"]) == 36


def test_utc_now_outside_a_default_is_refused():
    refused(
        template(
            variables={"t": "[utcNow()]"}, outputs={"o": {"type": "string", "value": "[variables('t')]"}}
        )
    )


def test_allowed_values():
    assert (
        "not part of the allowed value(s): 'a, b'"
        in refused(declared(type="string", allowedValues=["a", "b"]), {"p": {"value": "c"}}).message
    )
    expand(declared(type="array", allowedValues=["a", "b"]), {"p": {"value": ["a", "b"]}}, SCOPE)
    refused(declared(type="array", allowedValues=["a", "b"]), {"p": {"value": ["a", "z"]}})


def test_min_and_max_value():
    assert (
        "greater than or equal to '2'"
        in refused(declared(type="int", minValue=2), {"p": {"value": 1}}).message
    )
    assert (
        "less than or equal to '5'" in refused(declared(type="int", maxValue=5), {"p": {"value": 6}}).message
    )
    expand(declared(type="int", minValue=2, maxValue=5), {"p": {"value": 5}}, SCOPE)


def test_min_and_max_length():
    refused(declared(type="string", minLength=3), {"p": {"value": "ab"}})
    refused(declared(type="string", maxLength=3), {"p": {"value": "abcd"}})
    refused(declared(type="array", maxLength=1), {"p": {"value": [1, 2]}})
    expand(declared(type="string", minLength=2, maxLength=2), {"p": {"value": "ab"}}, SCOPE)


def test_unknown_parameter_is_refused():
    error = refused(declared(type="string"), {"p": {"value": "x"}, "q": {"value": 1}})
    assert "'q'" in error.message and "not present in the original template" in error.message


def test_parameter_values_must_have_the_parameter_file_shape():
    refused(declared(type="string"), {"p": "x"})
    assert (
        "Key Vault"
        in refused(declared(type="string"), {"p": {"reference": {"keyVault": {"id": "x"}}}}).message
    )


def test_whole_parameter_file_is_accepted():
    file = {"$schema": "x", "contentVersion": "1.0.0.0", "parameters": {"p": {"value": "x"}}}
    assert expand(declared(type="string"), file, SCOPE).parameters == {"p": "x"}


def test_unknown_parameter_type_and_declaration_property_are_refused():
    refused(declared(type="float"), {"p": {"value": 1}})
    refused(template(parameters={"p": {"type": "string", "bogus": 1}}), {"p": {"value": "x"}})


# --- variables ----------------------------------------------------------------------------------------------


def test_variables_reference_each_other_and_copy():
    tmpl = template(
        variables={
            "prefix": "[concat('img-', parameters('n'))]",
            "name": "[concat(variables('prefix'), '-x')]",
            "copy": [{"name": "disks", "count": 3, "input": {"lun": "[copyIndex('disks')]"}}],
            "obj": {"copy": [{"name": "items", "count": 2, "input": "[concat('i', copyIndex('items'))]"}]},
        },
        parameters={"n": {"type": "string", "defaultValue": "a"}},
        outputs={
            "o": {
                "type": "array",
                "value": "[createArray(variables('name'), variables('disks'), variables('obj'))]",
            }
        },
    )
    assert expand(tmpl, None, SCOPE).outputs()["o"]["value"] == [
        "img-a-x",
        [{"lun": 0}, {"lun": 1}, {"lun": 2}],
        {"items": ["i0", "i1"]},
    ]


def test_every_variable_is_evaluated_used_or_not():
    error = refused(template(variables={"unused": "[div(1, 0)]"}))
    assert error.target == "variables.unused"


def test_expressions_are_checked_before_anything_is_deployed():
    # an unknown function in an output (evaluated only after the deployment) and in a resource
    # whose condition is false are refused by expand() already
    assert "'nope'" in refused(template(outputs={"o": {"type": "string", "value": "[nope()]"}})).message
    error = refused(template([gallery(condition="[false()]", properties={"x": "[concat('a',]"})]))
    assert error.target == "resources[0].properties.x"


def test_circular_variables_are_refused():
    tmpl = template(
        variables={"a": "[variables('b')]", "b": "[variables('a')]"},
        outputs={"o": {"type": "string", "value": "[variables('a')]"}},
    )
    assert "circular" in refused(tmpl).message


# --- resources: names, children, condition, copy ------------------------------------------------------------


def test_child_name_segments_must_match_the_type():
    error = refused(template([image("onlyone")]))
    assert "incorrect segment lengths" in error.message and error.target == "resources[0].name"


def test_nested_child_resources_get_full_type_name_and_parent_dependency():
    child = {
        "type": "images",
        "apiVersion": "2022-03-03",
        "name": "d",
        "location": "westeurope",
        "properties": {},
    }
    plan = expand(template([gallery(resources=[child])]), None, SCOPE, api_versions)
    parent, image_ = plan.resources
    assert image_.type == "Microsoft.Compute/galleries/images" and image_.name == "g/d"
    assert image_.id == f"{GALLERY}/g/images/d"
    assert image_.depends_on == [parent.id]
    assert plan.batches == [[parent.id], [image_.id]]


def test_top_level_child_depends_on_its_parent_in_the_template():
    plan = expand(template([image("g/d"), gallery()]), None, SCOPE)
    assert [r.name for r in plan.resources] == ["g", "g/d"]


def test_condition_false_leaves_the_resource_out_and_drops_dependencies_on_it():
    tmpl = template(
        [gallery("a", condition="[equals(parameters('make'), 'yes')]"), gallery("b", dependsOn=["a"])],
        parameters={"make": {"type": "string"}},
    )
    plan = expand(tmpl, {"make": {"value": "no"}}, SCOPE)
    assert [r.name for r in plan.resources] == ["b"] and plan.resources[0].depends_on == []
    plan = expand(tmpl, {"make": {"value": "yes"}}, SCOPE)
    assert [r.name for r in plan.resources] == ["a", "b"]


def test_condition_must_be_boolean():
    refused(template([gallery(condition="yes")]))


def test_copy_parallel_is_one_batch():
    plan = expand(
        template([gallery("[concat('g', copyIndex(1))]", copy={"name": "loop", "count": 3})]), None, SCOPE
    )
    assert [r.name for r in plan.resources] == ["g1", "g2", "g3"]
    assert len(plan.batches) == 1 and all(r.copy == "loop" for r in plan.resources)


def test_copy_serial_with_batch_size():
    loop = {"name": "loop", "count": 5, "mode": "serial", "batchSize": 2}
    plan = expand(template([gallery("[concat('g', copyIndex())]", copy=loop)]), None, SCOPE)
    assert [[i.rsplit("/", 1)[1] for i in batch] for batch in plan.batches] == [
        ["g0", "g1"],
        ["g2", "g3"],
        ["g4"],
    ]


def test_copy_serial_defaults_to_one_at_a_time():
    plan = expand(
        template([gallery("[concat('g', copyIndex())]", copy={"name": "l", "count": 3, "mode": "serial"})]),
        None,
        SCOPE,
    )
    assert len(plan.batches) == 3


def test_copy_count_zero_and_limits():
    assert (
        expand(
            template([gallery("[concat('g', copyIndex())]", copy={"name": "l", "count": 0})]), None, SCOPE
        ).resources
        == []
    )
    assert (
        "between 0 and 800"
        in refused(
            template([gallery("[concat('g', copyIndex())]", copy={"name": "l", "count": 801})])
        ).message
    )
    refused(template([gallery("g", copy={"name": "l", "count": 2, "mode": "sideways"})]))
    refused(template([gallery("g", copy={"name": "l", "count": 2, "mode": "serial", "batchSize": 0})]))


def test_property_copy():
    props = {
        "copy": [
            {
                "name": "targetRegions",
                "count": 2,
                "input": {"name": "[concat('r', copyIndex('targetRegions'))]"},
            }
        ]
    }
    plan = expand(template([gallery(properties=props)]), None, SCOPE)
    assert plan.resources[0].properties == {"targetRegions": [{"name": "r0"}, {"name": "r1"}]}


# --- dependsOn and order -----------------------------------------------------------------------------------


def test_depends_on_by_name_by_resource_id_and_by_loop():
    tmpl = template(
        [
            gallery("a"),
            gallery("b", dependsOn=["[resourceId('Microsoft.Compute/galleries', 'a')]"]),
            gallery("[concat('c', copyIndex())]", copy={"name": "cs", "count": 2}, dependsOn=["b"]),
            gallery("d", dependsOn=["cs"]),
        ]
    )
    plan = expand(tmpl, None, SCOPE)
    assert [[i.rsplit("/", 1)[1] for i in batch] for batch in plan.batches] == [
        ["a"],
        ["b"],
        ["c0", "c1"],
        ["d"],
    ]
    assert plan.resource(f"{GALLERY}/d").depends_on == [f"{GALLERY}/c0", f"{GALLERY}/c1"]


def test_depends_on_an_unknown_resource_is_refused():
    error = refused(template([gallery(dependsOn=["nope"])]))
    assert (
        "The resource 'nope' is not defined in the template." in error.message
        and error.target == "resources[0].dependsOn[0]"
    )


def test_a_dependency_cycle_is_refused():
    assert (
        "Circular dependency"
        in refused(template([gallery("a", dependsOn=["b"]), gallery("b", dependsOn=["a"])])).message
    )


def test_reference_implies_order_and_defers_the_properties():
    tmpl = template(
        [
            image("a/d", location="westeurope", properties={"copyOf": "[reference('a').description]"}),
            gallery("a", properties={"description": "first"}),
        ],
        outputs={
            "o": {
                "type": "string",
                "value": "[reference(resourceId('Microsoft.Compute/galleries', 'a')).description]",
            }
        },
    )
    plan = expand(tmpl, None, SCOPE)
    first, second = plan.resources
    assert first.name == "a" and not first.deferred
    assert second.deferred and second.depends_on == [first.id]

    def reference(resource_id, api_version, full):
        assert resource_id == first.id
        return first.properties

    assert second.resolve(reference)["properties"] == {"copyOf": "first"}
    assert plan.outputs(reference)["o"]["value"] == "first"


def test_reference_of_an_existing_resource_reads_it_now_or_waits_for_a_reader():
    existing = f"{GALLERY}/old"
    tmpl = template([gallery("g", properties={"description": f"[reference('{existing}').description]"})])
    plan = expand(
        tmpl, None, SCOPE, reference=lambda rid, api, full: {"description": "from " + rid.rsplit("/", 1)[1]}
    )
    assert plan.resources[0].properties == {"description": "from old"} and plan.resources[0].depends_on == []
    later = expand(tmpl, None, SCOPE).resources[0]
    assert later.deferred
    assert later.resolve(lambda rid, api, full: {"description": "x"})["properties"] == {"description": "x"}
    with pytest.raises(ServiceError, match="needs a reader"):
        later.resolve(None)


def test_reference_in_a_name_is_refused():
    assert "not expected at this location" in refused(template([gallery("[reference('x').name]")])).message


# --- outputs ------------------------------------------------------------------------------------------------


def test_outputs_with_copy_condition_and_types():
    tmpl = template(
        outputs={
            "names": {"type": "array", "copy": {"count": 2, "input": "[concat('n', copyIndex())]"}},
            "skipped": {"type": "string", "condition": "[false()]", "value": "x"},
            "n": {"type": "int", "value": 3},
            "flag": {"type": "bool", "value": True},
            "secret": {"type": "securestring", "value": "hidden"},
        }
    )
    assert expand(tmpl, None, SCOPE).outputs() == {
        "names": {"type": "Array", "value": ["n0", "n1"]},
        "n": {"type": "Int", "value": 3},
        "flag": {"type": "Bool", "value": True},
        "secret": {"type": "SecureString"},
    }


def test_property_iteration_needs_its_name_for_copy_index():
    props = {
        "copy": [
            {"name": "regions", "count": 2, "input": {"i": "[copyIndex('regions')]", "r": "[copyIndex()]"}}
        ]
    }
    plan = expand(
        template([gallery("[concat('g', copyIndex())]", copy={"name": "gs", "count": 2}, properties=props)]),
        None,
        SCOPE,
    )
    assert plan.resources[1].properties == {"regions": [{"i": 0, "r": 1}, {"i": 1, "r": 1}]}
    refused(template([gallery(properties=props)]))  # no resource loop: copyIndex() has nothing to count


def test_output_of_the_wrong_type_is_refused():
    refused(template(outputs={"o": {"type": "int", "value": "x"}}))


# --- nested deployments and scope ------------------------------------------------------------------------


def nested(scope_kind, tmpl, **props):
    return {
        "type": "Microsoft.Resources/deployments",
        "apiVersion": "2021-04-01",
        "name": "inner",
        "properties": {
            "mode": "Incremental",
            "expressionEvaluationOptions": {"scope": scope_kind},
            "template": tmpl,
            **props,
        },
    }


def test_nested_inline_deployment_inner_scope():
    inner = template(
        [gallery("[parameters('name')]")],
        parameters={"name": {"type": "string"}},
        outputs={
            "id": {
                "type": "string",
                "value": "[resourceId('Microsoft.Compute/galleries', parameters('name'))]",
            }
        },
    )
    outer = template(
        [nested("inner", inner, parameters={"name": {"value": "[concat(parameters('p'), '-g')]"}})],
        parameters={"p": {"type": "string"}},
    )
    plan = expand(outer, {"p": {"value": "x"}}, SCOPE, api_versions)
    (deployment,) = plan.resources
    assert deployment.id == f"{RG}/providers/Microsoft.Resources/deployments/inner"
    assert [r.name for r in deployment.nested.resources] == ["x-g"]
    assert deployment.nested.outputs()["id"]["value"] == f"{GALLERY}/x-g"
    assert [r.name for r in flatten(plan)] == ["inner", "x-g"]


def test_nested_inline_deployment_outer_scope_sees_the_parent_parameters():
    outer = template(
        [nested("outer", template([gallery("[parameters('p')]")]))], parameters={"p": {"type": "string"}}
    )
    plan = expand(outer, {"p": {"value": "x"}}, SCOPE)
    assert plan.resources[0].nested.resources[0].name == "x"


def test_linked_templates_are_refused():
    resource = nested("inner", template())
    del resource["properties"]["template"]
    resource["properties"]["templateLink"] = {"uri": "https://example.com/t.json"}
    refused(template([resource]))


def test_subscription_scope_resource_group_and_nested_deployment_into_it():
    scope = Scope(SUB, location="westeurope")
    group = {
        "type": "Microsoft.Resources/resourceGroups",
        "apiVersion": "2021-04-01",
        "name": "newrg",
        "location": "westeurope",
    }
    deployment = nested("inner", template([gallery("g")]))
    deployment["resourceGroup"] = "newrg"
    deployment["dependsOn"] = ["[resourceId('Microsoft.Resources/resourceGroups', 'newrg')]"]
    plan = expand(template([group, deployment]), None, scope, api_versions)
    assert plan.resources[0].id == f"/subscriptions/{SUB}/resourceGroups/newrg"
    assert plan.resources[1].id == f"/subscriptions/{SUB}/providers/Microsoft.Resources/deployments/inner"
    assert plan.resources[1].depends_on == [plan.resources[0].id]
    assert (
        plan.resources[1].nested.resources[0].id
        == f"/subscriptions/{SUB}/resourceGroups/newrg/providers/Microsoft.Compute/galleries/g"
    )


ROLE = "Microsoft.Authorization/roleAssignments"


def role_assignment(**extra):
    return {
        "type": ROLE,
        "apiVersion": "2022-04-01",
        "name": "[guid(resourceGroup().id, 'reader')]",
        "properties": {"roleDefinitionId": "x", "principalId": "p"},
        **extra,
    }


def test_role_assignment_at_the_resource_group():
    (assignment,) = expand(template([role_assignment()]), None, SCOPE).resources
    assert assignment.type == ROLE and assignment.extends is None
    assert assignment.id == f"{RG}/providers/{ROLE}/" + assignment.name


def test_role_assignment_on_a_gallery_with_scope():
    for scope in ("Microsoft.Compute/galleries/g", "[resourceId('Microsoft.Compute/galleries', 'g')]"):
        plan = expand(template([role_assignment(scope=scope), gallery()]), None, SCOPE)
        gallery_, assignment = plan.resources
        assert assignment.extends == gallery_.id and assignment.depends_on == [gallery_.id]
        assert assignment.id == f"{GALLERY}/g/providers/{ROLE}/{assignment.name}"
    refused(template([role_assignment(scope="galleries")]))


def test_role_assignment_on_a_gallery_in_the_older_nested_form():
    resource = role_assignment(
        type="Microsoft.Compute/galleries/providers/roleAssignments", name="g/Microsoft.Authorization/abc"
    )
    (assignment,) = expand(template([resource]), None, SCOPE).resources
    assert (assignment.type, assignment.name) == (ROLE, "abc")
    assert assignment.id == f"{GALLERY}/g/providers/{ROLE}/abc" and assignment.extends == f"{GALLERY}/g"


def test_resource_groups_at_resource_group_scope_are_refused():
    refused(
        template([{"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2021-04-01", "name": "x"}])
    )


# --- what is not supported is refused, not ignored -----------------------------------------------------------


@pytest.mark.parametrize(
    "tmpl",
    [
        template(functions=[{"namespace": "x", "members": {}}]),
        {**template(), "languageVersion": "2.0"},
        {**template(), "resources": {"g": gallery()}},
        template([gallery(bogus=1)]),
        template([{"type": "Microsoft.Compute/galleries", "name": "g"}]),
        template([gallery(copy={"name": "l"})]),
        "not an object",
    ],
)
def test_unsupported_template_shapes_are_refused(tmpl):
    refused(tmpl)
