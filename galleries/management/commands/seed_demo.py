from django.core.management.base import BaseCommand

from galleries.demo import print_logins, seed


class Command(BaseCommand):
    help = "Create (or repair) the demo tenants, users, subscriptions, images and gallery. Idempotent."

    def handle(self, *args, **options):
        seed(self.stdout)
        print_logins(self.stdout, "http://127.0.0.1:8000/")
