"""The ARM template expression language: every function and keyword the engine serves, with the
documented examples of learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-*
as the expected values, plus hypothesis properties of the evaluator."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galleries.arm.evaluator import FUNCTIONS, LAZY, Context, NeedsReference, Scope, evaluate_string
from galleries.arm.expand import expand  # noqa: F401  (registers every function)
from galleries.arm.hashing import GUID_NAMESPACE, unique_string
from portal.core.errors import ServiceError

SCOPE = Scope(
    "00000000-0000-0000-0000-000000000001",
    tenant_id="11111111-1111-1111-1111-111111111111",
    subscription_name="Dev",
    resource_group="rg1",
    location="westeurope",
    resource_group_tags={"team": "images"},
    deployment_name="dep1",
)


def ev(expression: str, **kwargs):
    return evaluate_string(expression, Context(scope=SCOPE, **kwargs), "outputs.x.value")


def refused(expression: str, **kwargs) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        ev(expression, **kwargs)
    assert caught.value.code == "InvalidTemplate"
    assert caught.value.target == "outputs.x.value"
    assert expression in caught.value.message
    return caught.value


DOCUMENTED = [
    # string functions (template-functions-string)
    ("[base64('one, two, three')]", "b25lLCB0d28sIHRocmVl"),
    ("[base64ToString('b25lLCB0d28sIHRocmVl')]", "one, two, three"),
    ("[base64ToJson(base64('{''one'': ''a'', ''two'': ''b''}'))]", {"one": "a", "two": "b"}),
    ("[concat('prefix', '-', 'suffix')]", "prefix-suffix"),
    (
        "[concat(createArray('1-1', '1-2', '1-3'), createArray('2-1', '2-2', '2-3'))]",
        ["1-1", "1-2", "1-3", "2-1", "2-2", "2-3"],
    ),
    ("[contains('OneTwoThree', 'e')]", True),
    ("[contains('OneTwoThree', 'z')]", False),
    ('[contains(json(\'{"one": "a", "two": "b", "three": "c"}\'), \'one\')]', True),
    ("[contains(createArray('one', 'two', 'three'), 'three')]", True),
    ("[contains(createArray('one', 'two', 'three'), 'four')]", False),
    ("[dataUri('Hello')]", "data:text/plain;charset=utf8;base64,SGVsbG8="),
    ("[dataUriToString('data:;base64,SGVsbG8sIFdvcmxkIQ==')]", "Hello, World!"),
    ("[empty('')]", True),
    ("[empty(createArray())]", True),
    ("[empty(json('{}'))]", True),
    ("[empty(null())]", True),
    ("[endsWith('abcdef', 'ef')]", True),
    ("[endsWith('abcdef', 'F')]", True),
    ("[endsWith('abcdef', 'e')]", False),
    ("[startsWith('abcdef', 'ab')]", True),
    ("[startsWith('abcdef', 'A')]", True),
    ("[startsWith('abcdef', 'e')]", False),
    ("[first('One Two Three')]", "O"),
    ("[first(createArray('one', 'two', 'three'))]", "one"),
    (
        "[format('{0}, {1}. Formatted number: {2:N0}', 'Hello', 'User', 8175133)]",
        "Hello, User. Formatted number: 8,175,133",
    ),
    ("[indexOf('test', 't')]", 0),
    ("[indexOf('abcdef', 'CD')]", 2),
    ("[indexOf('abcdef', 'z')]", -1),
    ("[lastIndexOf('test', 't')]", 3),
    ("[lastIndexOf('abcdef', 'AB')]", 0),
    ("[indexOf(createArray('a', 'b', 'c'), 'b')]", 1),
    ("[lastIndexOf(createArray(1, 2, 1), 1)]", 2),
    ("[join(createArray('one', 'two', 'three'), ',')]", "one,two,three"),
    ("[last('One Two Three')]", "e"),
    ("[last(createArray('one', 'two', 'three'))]", "three"),
    ("[length('One Two Three')]", 13),
    ("[length(createArray('one', 'two', 'three'))]", 3),
    ('[length(json(\'{"a": 1, "b": 2}\'))]', 2),
    ("[padLeft('123', 10, '0')]", "0000000123"),
    ("[padLeft(7, 3, '0')]", "007"),
    ("[replace('123-123-1234', '-', '')]", "1231231234"),
    ("[replace('123-123-1234', '1234', 'xxxx')]", "123-123-xxxx"),
    ("[skip('one two three', 4)]", "two three"),
    ("[skip(createArray('one', 'two', 'three'), 2)]", ["three"]),
    ("[split('one,two,three', ',')]", ["one", "two", "three"]),
    ("[split('one;two,three', createArray(',', ';'))]", ["one", "two", "three"]),
    ('[string(json(\'{"valueA": 10, "valueB": "Example Text"}\'))]', '{"valueA":10,"valueB":"Example Text"}'),
    ("[string(createArray('a', 'b', 'c'))]", '["a","b","c"]'),
    ("[string(5)]", "5"),
    ("[string(true())]", "True"),
    ("[substring('hello there', 1, 3)]", "ell"),
    ("[substring('hello there', 6)]", "there"),
    ("[take('one two three', 2)]", "on"),
    ("[take(createArray('one', 'two', 'three'), 2)]", ["one", "two"]),
    ("[toLower('One Two Three')]", "one two three"),
    ("[toUpper('One Two Three')]", "ONE TWO THREE"),
    ("[trim('    one two three   ')]", "one two three"),
    (
        "[uri('http://contoso.com/resources/', 'nested/azuredeploy.json')]",
        "http://contoso.com/resources/nested/azuredeploy.json",
    ),
    (
        "[uriComponent('http://contoso.com/resources/nested/azuredeploy.json')]",
        "http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json",
    ),
    (
        "[uriComponentToString('http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json')]",
        "http://contoso.com/resources/nested/azuredeploy.json",
    ),
    # date functions (template-functions-date)
    ("[dateTimeAdd('2023-01-01 00:00:00Z', 'P1Y')]", "2024-01-01T00:00:00Z"),
    ("[dateTimeAdd('2024-01-01 00:00:00Z', 'P1Y')]", "2024-12-31T00:00:00Z"),
    ("[dateTimeAdd('2023-02-01 00:00:00Z', 'P1M')]", "2023-03-03T00:00:00Z"),
    ("[dateTimeAdd('2024-02-01 00:00:00Z', 'P1M')]", "2024-03-02T00:00:00Z"),
    ("[dateTimeAdd('2020-04-07 14:53:14Z', '-P9D')]", "2020-03-29T14:53:14Z"),
    ("[dateTimeAdd('2020-04-07 14:53:14Z', 'PT1H', 'u')]", "2020-04-07 15:53:14Z"),
    ("[dateTimeFromEpoch(1683040573)]", "2023-05-02T15:16:13Z"),
    ("[dateTimeToEpoch('2023-05-02T15:16:13Z')]", 1683040573),
    # numeric functions (template-functions-numeric)
    ("[add(5, 3)]", 8),
    ("[sub(7, 3)]", 4),
    ("[mul(5, 3)]", 15),
    ("[div(8, 3)]", 2),
    ("[div(-8, 3)]", -2),
    ("[mod(7, 3)]", 1),
    ("[mod(-7, 3)]", -1),
    ("[min(createArray(0, 3, 2, 5, 4))]", 0),
    ("[min(0, 3, 2, 5, 4)]", 0),
    ("[max(createArray(0, 3, 2, 5, 4))]", 5),
    ("[max(0, 3, 2, 5, 4)]", 5),
    ("[int('4')]", 4),
    ("[float('3.5')]", 3.5),
    ("[range(1, 3)]", [1, 2, 3]),
    ("[range(5, 0)]", []),
    # comparison functions (template-functions-comparison)
    ("[equals(1, 1)]", True),
    ("[equals('demo', 'demo')]", True),
    ("[equals(createArray('a', 'b'), createArray('a', 'b'))]", True),
    ("[equals(json('{\"a\": 1}'), json('{\"a\": 1}'))]", True),
    ("[equals(1, '1')]", False),
    ("[less(1, 10)]", True),
    ("[less('A', 'a')]", True),
    ("[lessOrEquals(10, 10)]", True),
    ("[greater(10, 1)]", True),
    ("[greater('A', 'a')]", False),
    ("[greaterOrEquals(10, 10)]", True),
    ("[coalesce(null(), null(), 'default')]", "default"),
    ("[coalesce(null(), 1, 2)]", 1),
    # logical functions (template-functions-logical)
    ("[and(true(), false())]", False),
    ("[and(true(), true(), true())]", True),
    ("[or(true(), false())]", True),
    ("[not(true())]", False),
    ("[bool('true')]", True),
    ("[bool('FALSE')]", False),
    ("[bool(1)]", True),
    ("[bool(0)]", False),
    ("[if(equals('a', 'a'), 'yes', 'no')]", "yes"),
    ("[if(equals('a', 'b'), div(1, 0), 'no')]", "no"),
    ("[true()]", True),
    ("[false()]", False),
    ("[null()]", None),
    # array and object functions (template-functions-array, -object)
    ("[array(1)]", [1]),
    ("[array('efgh')]", ["efgh"]),
    ('[array(json(\'{"a": "b", "c": "d"}\'))]', [{"a": "b", "c": "d"}]),
    ("[array(createArray(1, 2))]", [1, 2]),
    ("[createArray(1, 2, 3)]", [1, 2, 3]),
    ("[createObject('intProp', 1, 'stringProp', 'abc')]", {"intProp": 1, "stringProp": "abc"}),
    (
        "[union(createArray('one', 'two', 'three'), createArray('three', 'four'))]",
        ["one", "two", "three", "four"],
    ),
    (
        '[union(json(\'{"one": "a", "two": "b", "three": "c1"}\'), json(\'{"three": "c2", "four": "d"}\'))]',
        {"one": "a", "two": "b", "three": "c2", "four": "d"},
    ),
    ('[union(json(\'{"a": {"x": 1}}\'), json(\'{"a": {"y": 2}}\'))]', {"a": {"x": 1, "y": 2}}),
    ("[intersection(createArray('one', 'two', 'three'), createArray('two', 'three'))]", ["two", "three"]),
    (
        '[intersection(json(\'{"one": "a", "two": "b", "three": "c"}\'), json(\'{"one": "a", "two": "z", "three": "c"}\'))]',
        {"one": "a", "three": "c"},
    ),
    (
        '[items(json(\'{"item002": {"enabled": false}, "item001": {"enabled": true}}\'))]',
        [{"key": "item001", "value": {"enabled": True}}, {"key": "item002", "value": {"enabled": False}}],
    ),
    ('[objectKeys(json(\'{"a": 1, "b": 2}\'))]', ["a", "b"]),
    ("[json('[1, 2]')]", [1, 2]),
    ("[json('null')]", None),
    ("[json('{''one'': ''a''}').one]", "a"),
    # lambda functions (template-functions-lambda)
    (
        '[filter(createArray(json(\'{"name": "Evie", "age": 5}\'), json(\'{"name": "Casper", "age": 3}\')),'
        " lambda('dog', greaterOrEquals(lambdaVariables('dog').age, 5)))]",
        [{"name": "Evie", "age": 5}],
    ),
    ("[map(createArray(1, 2, 3), lambda('n', mul(lambdaVariables('n'), 2)))]", [2, 4, 6]),
    (
        "[map(createArray('a', 'b'), lambda('x', 'i', concat(lambdaVariables('x'), string(lambdaVariables('i')))))]",
        ["a0", "b1"],
    ),
    (
        "[reduce(createArray(1, 2, 3), 0, lambda('cur', 'next', add(lambdaVariables('cur'), lambdaVariables('next'))))]",
        6,
    ),
    (
        "[sort(createArray(3, 1, 2), lambda('a', 'b', less(lambdaVariables('a'), lambdaVariables('b'))))]",
        [1, 2, 3],
    ),
]


@pytest.mark.parametrize(("expression", "expected"), DOCUMENTED)
def test_documented_example(expression, expected):
    assert ev(expression) == expected


# --- the language: literals, escapes, property access ----------------------------------------------


def test_a_string_that_is_not_bracketed_is_a_literal():
    assert ev("plain [text]") == "plain [text]"
    assert ev("[not closed") == "[not closed"


def test_double_bracket_escapes_a_literal_bracket():
    assert ev("[[concat('a', 'b')]") == "[concat('a', 'b')]"


def test_quotes_double_inside_string_literals():
    assert ev("['it''s']") == "it's"


def test_integers_negative_and_whitespace():
    assert ev("[ add( -3 , 5 ) ]") == 2


def test_property_access_by_name_by_key_and_by_index():
    data = 'json(\'{"a": {"b": [10, 20]}, "c d": 1}\')'
    assert ev(f"[{data}.a.b[1]]") == 20
    assert ev(f"[{data}['c d']]") == 1
    assert ev(f"[{data}.A.B[0]]") == 10  # property names are case-insensitive


def test_function_names_are_case_insensitive():
    assert ev("[TOLOWER('A')]") == "a"


def test_missing_property_names_the_available_ones():
    error = refused("[json('{\"a\": 1}').b]")
    assert (
        "The language expression property 'b' doesn't exist, available properties are 'a'." in error.message
    )


def test_index_out_of_bounds():
    assert "out of bounds" in refused("[createArray(1)[3]]").message


def test_unknown_function_is_invalid_template_with_path_and_expression():
    error = refused("[foo('x')]")
    assert error.message == (
        "Deployment template validation failed: 'The template resource '[foo('x')]' at 'outputs.x.value' is not valid: "
        "The template function 'foo' is not found. Please see https://aka.ms/arm-template-expressions for usage details.'"
    )
    assert error.as_arm()["error"]["target"] == "outputs.x.value"


def test_syntax_error_is_invalid_template():
    refused("[concat('a',]")
    refused("[]")
    refused("['unterminated]")


def test_wrong_argument_count_and_type():
    assert "expects 3 parameter(s)" in refused("[replace('a', 'b')]").message
    assert "'Integer'" in refused("[add('a', 1)]").message


def test_integer_overflow_and_division_by_zero_are_refused():
    refused("[mul(9223372036854775807, 2)]")
    refused("[div(1, 0)]")
    refused("[mod(1, 0)]")
    refused("[add(99999999999999999999, 1)]")


def test_substring_out_of_range_is_refused_with_the_documented_message():
    assert (
        "The index and length parameters must refer to a location within the string. The index parameter: '0', "
        "the length parameter: '11', the length of the string parameter: '10'."
        in refused("[substring('helloworld', 0, 11)]").message
    )
    refused("[substring('abc', -1, 1)]")


def test_format_alignment_braces_and_bad_format_strings():
    assert ev("[format('[{0,5}|{1,-3}|{{x}}]', 'ab', 1)]") == "[   ab|1  |{x}]"
    assert ev("[format('{0:D3}-{0:X}', 255)]") == "255-FF"
    refused("[format('{x}', 1)]")
    refused("[format('{1}', 1)]")
    refused("[format('{0:Q}', 1)]")


def test_comparing_mixed_types_is_refused():
    refused("[less(1, 'a')]")


# --- hashing: uniqueString and guid ----------------------------------------------------------------

# Vectors published with a public ARM/Bicep-compatible reimplementation (uniquestring.sh), which states
# they were verified against Bicep's uniqueString(); not re-checked against live ARM here.
UNIQUE = [
    (["test"], "rbgf3xv4ufgzg"),
    (["hello", "world"], "a7wkljktk6wne"),
    (["abc"], "cgtzqvhu4i23s"),
    (["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg"], "bmg7c6xu4tw46"),
    (["foo", "bar", "baz"], "xzi4ioaxtmth4"),
    # from a public C# test (Modm.Tests ArmFunctionsTests) that labels the value as read from ARM's output
    (
        [
            "/subscriptions/31e9f9a0-9fd2-4294-a0a3-0101246d9700/resourceGroups/rg-modm201-20230913120256"
            "/providers/Microsoft.Compute/virtualMachines/bobjacmodm201"
        ],
        "yvjxno3je5on2",
    ),
]


@pytest.mark.parametrize(("values", "expected"), UNIQUE)
def test_unique_string_matches_published_vectors(values, expected):
    assert unique_string(*values) == expected
    args = ", ".join(f"'{v}'" for v in values)
    assert ev(f"[uniqueString({args})]") == expected


def test_unique_string_of_the_resource_group_id():
    value = ev("[uniqueString(resourceGroup().id)]")
    assert len(value) == 13 and value == unique_string(SCOPE.id)


def test_guid_is_uuid5_of_the_hyphen_joined_values():
    value = ev("[guid('a', 'b')]")
    assert value == str(uuid.uuid5(GUID_NAMESPACE, "a-b"))
    assert uuid.UUID(value).version == 5


def test_new_guid_and_utc_now_only_in_parameter_defaults():
    assert "default value of a parameter" in refused("[newGuid()]").message
    refused("[utcNow()]")
    assert uuid.UUID(ev("[newGuid()]", defaults=True)).version == 4
    assert len(ev("[utcNow()]", defaults=True)) == len("20240101T000000Z")
    assert ev("[utcNow('u')]", defaults=True).endswith("Z")


# --- deployment and resource functions --------------------------------------------------------------


def test_resource_group():
    group = ev("[resourceGroup()]")
    assert group["id"] == "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg1"
    assert (
        group["name"] == "rg1" and group["location"] == "westeurope" and group["tags"] == {"team": "images"}
    )
    assert group["type"] == "Microsoft.Resources/resourceGroups"


def test_resource_group_at_subscription_scope_is_refused():
    with pytest.raises(ServiceError):
        evaluate_string("[resourceGroup()]", Context(scope=Scope("s")), "x")


def test_subscription():
    assert ev("[subscription()]") == {
        "id": "/subscriptions/00000000-0000-0000-0000-000000000001",
        "subscriptionId": "00000000-0000-0000-0000-000000000001",
        "tenantId": "11111111-1111-1111-1111-111111111111",
        "displayName": "Dev",
    }


def test_deployment_and_environment():
    assert ev("[deployment().name]") == "dep1"
    assert ev("[tenant()]") == {
        "id": "/tenants/11111111-1111-1111-1111-111111111111",
        "tenantId": "11111111-1111-1111-1111-111111111111",
    }
    assert ev("[environment().name]") == "AzureCloud"
    assert ev("[environment().authentication.loginEndpoint]").startswith("https://")


def test_parameters_variables_and_copy_index():
    variables = {"v": 1}.__getitem__
    assert ev("[parameters('Name')]", parameters={"name": "x"}) == "x"
    assert "The template parameter 'other' is not found." in refused("[parameters('other')]").message
    assert ev("[variables('v')]", variables=variables) == 1
    ctx = Context(scope=SCOPE).with_copy("loop", 2)
    assert evaluate_string("[copyIndex()]", ctx) == 2
    assert evaluate_string("[copyIndex(1)]", ctx) == 3
    assert evaluate_string("[copyIndex('loop', 10)]", ctx) == 12
    assert "is not expected at this location" in refused("[copyIndex()]").message


def test_resource_ids():
    assert ev("[resourceId('Microsoft.Compute/galleries', 'g')]") == (
        "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg1/providers/Microsoft.Compute/galleries/g"
    )
    assert ev("[resourceId('other', 'Microsoft.Compute/galleries/images', 'g', 'd')]") == (
        "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/other/providers/Microsoft.Compute/galleries/g/images/d"
    )
    assert ev("[resourceId('sub2', 'rg2', 'Microsoft.Compute/galleries', 'g')]") == (
        "/subscriptions/sub2/resourceGroups/rg2/providers/Microsoft.Compute/galleries/g"
    )
    assert ev("[resourceId('Microsoft.Compute/galleries/images/versions', 'g/d/1.0.0')]").endswith(
        "/galleries/g/images/d/versions/1.0.0"
    )
    assert (
        "requires '2' resource name"
        in refused("[resourceId('Microsoft.Compute/galleries/images', 'g')]").message
    )
    assert ev("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'abc')]") == (
        "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Authorization/roleDefinitions/abc"
    )
    assert ev("[tenantResourceId('Microsoft.Authorization/policyDefinitions', 'p')]") == (
        "/providers/Microsoft.Authorization/policyDefinitions/p"
    )
    assert ev("[extensionResourceId(resourceGroup().id, 'Microsoft.Authorization/locks', 'lock')]") == (
        "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg1/providers/Microsoft.Authorization/locks/lock"
    )


def test_reference_reads_existing_resources_through_the_callback():
    seen = []

    def reference(resource_id, api_version, full):
        seen.append((resource_id, api_version, full))
        return (
            {"identifier": {"publisher": "p"}, "properties": {}}
            if full
            else {"identifier": {"publisher": "p"}}
        )

    ctx = Context(scope=SCOPE, reference=reference, resolve_name=lambda _name: None)
    gallery = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g"
    assert evaluate_string(f"[reference('{gallery}').identifier.publisher]", ctx) == "p"
    assert evaluate_string(f"[reference('{gallery}', '2022-03-03', 'Full')]", ctx)["properties"] == {}
    assert seen == [(gallery, None, False), (gallery, "2022-03-03", True)]
    with pytest.raises(ServiceError, match="is not defined in the template"):
        evaluate_string("[reference('unknown')]", ctx, "x")
    reader_later = Context(scope=SCOPE, resolve_name=lambda _name: None)
    with pytest.raises(NeedsReference):
        evaluate_string(f"[reference('{gallery}')]", reader_later, "x")


def test_reference_where_not_allowed_is_refused():
    assert (
        "The template function 'reference' is not expected at this location."
        in refused("[reference('x')]").message
    )


def test_a_lambda_outside_filter_map_reduce_sort_is_refused():
    assert "A lambda can only be given" in refused("[lambda('x', 1)]").message
    refused("[map(createArray(1), 'not a lambda')]")
    refused("[lambdaVariables('nope')]")


@pytest.mark.parametrize(
    "expression",
    [
        "[listKeys('x', '2020-01-01')]",
        "[listSecrets('x', '2020-01-01')]",
        "[listAccountSas('x', '2020-01-01', json('{}'))]",
        "[pickZones('Microsoft.Compute', 'virtualMachines', 'westus2')]",
        "[providers('Microsoft.Compute')]",
        "[resourceGroups('x')]",
        "[managementGroup()]",
        "[managementGroupResourceId('Microsoft.Authorization/policyDefinitions', 'p')]",
    ],
)
def test_functions_this_service_does_not_serve_are_refused(expression):
    refused(expression)


def test_every_function_has_a_test():
    sources = "".join(p.read_text().lower() for p in Path(__file__).parent.glob("test_template_*.py"))
    missing = [name for name in sorted({*FUNCTIONS, *LAZY}) if f"{name}(" not in sources]
    assert missing == []


# --- properties (hypothesis) --------------------------------------------------------------------------

BMP = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)), max_size=40)
INT = st.integers(min_value=-(2**40), max_value=2**40)


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@given(BMP)
def test_string_literal_round_trips(text):
    assert ev(f"[{quote(text)}]") == text


@given(BMP, BMP)
def test_concat_length_law(a, b):
    assert ev(f"[length(concat({quote(a)}, {quote(b)}))]") == len(a) + len(b)
    assert ev(f"[concat({quote(a)}, {quote(b)})]") == a + b


@given(INT, INT)
def test_add_and_sub_are_inverse(a, b):
    assert ev(f"[sub(add({a}, {b}), {b})]") == a


@given(INT, st.integers(min_value=-(2**20), max_value=2**20).filter(bool))
def test_div_and_mod_rebuild_the_dividend(a, b):
    assert ev(f"[add(mul(div({a}, {b}), {b}), mod({a}, {b}))]") == a


@given(INT, INT)
def test_integer_comparisons_agree_with_python(a, b):
    assert ev(f"[less({a}, {b})]") == (a < b)
    assert ev(f"[lessOrEquals({a}, {b})]") == (a <= b)
    assert ev(f"[greater({a}, {b})]") == (a > b)
    assert ev(f"[greaterOrEquals({a}, {b})]") == (a >= b)
    assert ev(f"[equals({a}, {b})]") == (a == b)


@given(BMP, BMP)
def test_string_comparisons_are_ordinal(a, b):
    assert ev(f"[less({quote(a)}, {quote(b)})]") == (a.encode("utf-16-be") < b.encode("utf-16-be"))
    assert ev(f"[equals({quote(a)}, {quote(b)})]") == (a == b)


@given(BMP)
def test_base64_round_trips(text):
    assert ev(f"[base64ToString(base64({quote(text)}))]") == text


@settings(max_examples=300)
@given(st.text(alphabet="()[]',.abcdefghijklmnopqrstuvwxyz0123456789- _'", max_size=60))
def test_parser_never_raises_anything_but_invalid_template(junk):
    try:
        ev(f"[{junk}]")
    except ServiceError as error:
        assert error.code == "InvalidTemplate"


@settings(max_examples=200)
@given(
    st.sampled_from(
        ["concat", "length", "add", "substring", "split", "json", "union", "if", "padLeft", "format", "range"]
    ),
    st.lists(st.one_of(INT, BMP.map(quote), st.just("createArray(1)"), st.just("null()")), max_size=4),
)
def test_functions_on_random_arguments_raise_only_invalid_template(name, args):
    try:
        ev(f"[{name}({', '.join(str(a) for a in args)})]")
    except ServiceError as error:
        assert error.code == "InvalidTemplate"
