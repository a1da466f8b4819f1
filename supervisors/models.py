from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class Role(models.TextChoices):
    """Roles are cumulative: an owner can do all a contributor can, who can do all a supervisor can."""

    SUPERVISOR = "supervisor", "Supervisor"  # handles escalations
    CONTRIBUTOR = "contributor", "Contributor"  # also configures agents, rules and webhooks
    OWNER = "owner", "Owner"  # also manages the team and may release anyone's claim

    @property
    def rank(self) -> int:
        return ROLE_RANK[self]


ROLE_RANK = {Role.SUPERVISOR: 1, Role.CONTRIBUTOR: 2, Role.OWNER: 3}


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")
    created_at = models.DateTimeField(auto_now_add=True)
    # Bumped in the same transaction as any write to the team's targets, business hours,
    # policy or ladder (escalations.team_settings); each process keeps what it read of
    # them stamped with this, and reads again when it moves (escalations.team_config).
    settings_version = models.PositiveBigIntegerField(default=1, editable=False)
    # The audit: who renamed a team, and when (admin saves record the user and a reason).
    history = HistoricalRecords(excluded_fields=["settings_version"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.SUPERVISOR)
    on_duty = models.BooleanField(
        default=True,
        help_text="Off: not assigned by round robin, not told as one of the team's supervisors "
        "(ladder, reminders, new critical escalations), and not counted as covering the team.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The audit: who gave whom which role in a team, or removed them, and when. Going on or
    # off duty is the supervisor's own switch, frequent and not a configuration change.
    history = HistoricalRecords(excluded_fields=["on_duty"])

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_one_per_user_team")]

    def __str__(self) -> str:
        return f"{self.user} · {self.team} ({self.get_role_display()})"


class ApiCredential(models.Model):
    """A secret shown once and stored as a lookup prefix plus a SHA-256 digest.

    See escalation_project.api.secrets for why a fast hash is right here.
    """

    # Unique and indexed: the request's secret names its row without a scan.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class UserToken(ApiCredential):
    """A staff member's API token (`Authorization: Token …`), shown once, stored hashed."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"{self.user} · {self.name or 'token'} (ut_{self.prefix}_…)"
