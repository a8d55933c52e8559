"""Template helpers of the resource pages: ``size`` (the one size formatter, ``portal.core.sizes``)
and ``resource_breadcrumbs`` (the breadcrumbs of names of a resource, ``galleries.frame``) for pages
whose view does not pass its own."""

from django import template

from portal.core.sizes import format_size

from ..frame import breadcrumbs

register = template.Library()
register.filter("size", format_size)


@register.simple_tag
def resource_breadcrumbs(resource):
    return breadcrumbs(resource)
