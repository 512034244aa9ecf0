"""The neonize Go binding replaced by a recorder that answers like goneonize: shared by the driver tests."""

from __future__ import annotations

import ctypes
import threading

from neonize.events import EVENT_TO_INT
from neonize.proto import Neonize_pb2 as npb
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from accounts.runtime.drivers.neonize_driver import NeonizeDriver
from tests.accounts.test_neonize_translation import jid

PEER_JID = "5511999990000@s.whatsapp.net"
GROUP_JID = "120363000000000001@g.us"
ME_JID = "5511888880000:7@s.whatsapp.net"
SENT_AT = 1_767_225_600


class FakeBinding:
    """Stands in for neonize's ctypes library: records every call and answers like Go would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.send_error = ""
        self.upload_error = ""
        self.stopped = threading.Event()
        self.script = None  # run by Neonize() with its callbacks, before it blocks
        self.presence_error = ""
        # Set to an Event to make media transfers wait on it: a media host that does not answer.
        self.media_stall: threading.Event | None = None

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        handler = getattr(type(self), f"do_{name}", None)
        if handler is None:
            raise AssertionError(f"unexpected Go call {name}")

        def call(*args):
            self.calls.append((name, args))
            return handler(self, *args)

        return call

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def sent(self) -> list[tuple[npb.JID, e2e.Message]]:
        return [(npb.JID.FromString(a[1]), e2e.Message.FromString(a[3])) for n, a in self.calls if n == "SendMessage"]

    def do_SendMessage(self, uuid, to, to_len, message, message_len):
        assert len(to) == to_len and len(message) == message_len
        if self.send_error:
            return npb.SendMessageReturnFunction(Error=self.send_error).SerializeToString()
        timings = npb.MessageDebugTimings(
            Queue=0, Marshal=0, GetParticipants=0, GetDevices=0, GroupEncrypt=0, PeerEncrypt=0, Send=0, Resp=0, Retry=0
        )
        response = npb.SendResponse(Timestamp=SENT_AT, ID="3EB0FROMSERVER", ServerID=0, DebugTimings=timings)
        return npb.SendMessageReturnFunction(SendResponse=response).SerializeToString()

    def do_Upload(self, uuid, binary, size, media_type):
        if self.media_stall is not None:
            self.media_stall.wait(30)
        if self.upload_error:
            return npb.UploadReturnFunction(Error=self.upload_error).SerializeToString()
        response = npb.UploadResponse(
            url="https://mmg.whatsapp.net/up",
            DirectPath="/v/t62/up",
            Handle="",
            MediaKey=b"k" * 32,
            FileEncSHA256=b"e" * 32,
            FileSHA256=b"s" * 32,
            FileLength=size,
        )
        return npb.UploadReturnFunction(UploadResponse=response).SerializeToString()

    def do_DownloadAny(self, uuid, message, size):
        # whatsmeow download.go:127-145 DownloadAny: only these top-level fields are downloadable;
        # anything else is ErrNothingDownloadableFound (errors.go:141), which goneonize returns as Error.
        if self.media_stall is not None:
            self.media_stall.wait(30)
        parsed = e2e.Message.FromString(message)
        fields = ("imageMessage", "videoMessage", "audioMessage", "documentMessage", "stickerMessage")
        found = next((getattr(parsed, name) for name in fields if parsed.HasField(name)), None)
        if found is None:
            return npb.DownloadReturnFunction(Error="didn't find any attachments in message").SerializeToString()
        if not found.URL and not found.directPath:  # download.go:216-218, ErrNoURLPresent (errors.go:134)
            return npb.DownloadReturnFunction(Error="no url present").SerializeToString()
        return npb.DownloadReturnFunction(Binary=b"\x89PNG-bytes").SerializeToString()

    def do_GetPNFromLID(self, uuid, jid_bytes, size):
        # goneonize main.go:318-335 over whatsmeow store/sqlstore/lidmap.go:128-136 (GetPNForLID, via
        # getLIDMapping at :91-116): a known LID gives the phone-number JID (with the LID's device), an
        # unknown one an empty JID and no error.
        lid = npb.JID.FromString(jid_bytes)
        known = {"987654321": "5511999990000"}.get(lid.User)
        found = jid(known, device=lid.Device) if known else jid()
        return npb.GetJIDFromStoreReturnFunction(Jid=found).SerializeToString()

    def do_SetForceActiveDeliveryReceipts(self, uuid, active):
        return b""  # goneonize main.go:1919-1921 returns nothing

    def do_SendPresence(self, uuid, presence):
        # goneonize main.go:2406-2412: "" or whatsmeow's error text, e.g. presence.go:67-68 ErrNoPushName.
        return self.presence_error.encode()

    def do_MarkRead(self, *args):
        return b""

    def do_SendChatPresence(self, *args):
        return b""

    def do_Logout(self, uuid):
        return b""

    def do_Stop(self, uuid):
        self.stopped.set()
        return b""

    def do_PairPhone(self, uuid, payload, size):
        return npb.PairPhoneReturnFunction(Code="ABCD-1234").SerializeToString()

    def do_IsOnWhatsApp(self, uuid, numbers, size):
        # whatsmeow user.go:181-205 queries with addressing_mode "lid": JID is the account's LID (the
        # phone number goes to a PhoneNumber field neonize 0.5.2 drops), and :206-223 store the pair
        # in the LID map that do_GetPNFromLID reads.
        found = npb.IsOnWhatsAppResponse(Query="+5511999990000", JID=jid("987654321", server="lid"), IsIn=True)
        missing = npb.IsOnWhatsAppResponse(Query="+15550000000", JID=jid(), IsIn=False)
        return npb.IsOnWhatsAppReturnFunction(IsOnWhatsAppResponse=[found, missing]).SerializeToString()

    def do_GetJoinedGroups(self, uuid):
        return npb.GetJoinedGroupsReturnFunction(Group=[group_info()]).SerializePartialToString()

    def do_GetGroupInfo(self, uuid, jid, size):
        return npb.GetGroupInfoReturnFunction(GroupInfo=group_info()).SerializePartialToString()

    def do_Neonize(self, *args):
        """Like Go: returns an error string at once, or blocks until Stop."""
        failure = self.script(args) if self.script is not None else None
        if failure:
            return failure
        self.stopped.wait(30)
        return None


def group_info() -> npb.GroupInfo:
    """A group as goneonize's EncodeGroupInfo (utils/encoder.go:131-152) fills every field of it.

    Owner and member are LID-addressed with their phone numbers alongside (whatsmeow group.go:738-740,
    parseParticipant); the name and the group were set at the same second, as for a group never renamed.
    """
    owner_lid, owner_pn = jid("222333444", server="lid"), jid("5511888880000")
    member = npb.GroupParticipant(
        JID=jid("987654321", server="lid"),
        LID=jid("987654321", server="lid"),
        PhoneNumber=jid("5511999990000"),
        IsAdmin=True,
        IsSuperAdmin=False,
        DisplayName="Ana",
        Error=0,
    )
    return npb.GroupInfo(
        JID=jid("120363000000000001", server="g.us"),
        OwnerJID=owner_lid,
        OwnerPN=owner_pn,
        GroupName=npb.GroupName(Name="Team", NameSetAt=SENT_AT, NameSetBy=owner_lid),
        GroupTopic=npb.GroupTopic(
            Topic="Plans", TopicID="7A1B", TopicSetAt=SENT_AT + 60, TopicSetBy=owner_lid, TopicDeleted=False
        ),
        GroupLocked=npb.GroupLocked(isLocked=False),
        GroupAnnounce=npb.GroupAnnounce(IsAnnounce=False, AnnounceVersionID="1767225600000000"),
        GroupEphemeral=npb.GroupEphemeral(IsEphemeral=False, DisappearingTimer=0),
        GroupIncognito=npb.GroupIncognito(IsIncognito=False),
        GroupParent=npb.GroupParent(IsParent=False, DefaultMembershipApprovalMode=""),
        GroupLinkedParent=npb.GroupLinkedParent(LinkedParentJID=jid()),
        GroupIsDefaultSub=npb.GroupIsDefaultSub(IsDefaultSubGroup=False),
        GroupCreated=SENT_AT,  # float32 holds this multiple of 128 exactly
        ParticipantVersionID="1767225600000001",
        Participants=[member],
    )


def on_binding(driver: NeonizeDriver, binding: object, *, logged_in: bool = True) -> NeonizeDriver:
    """``driver`` as a resumed session of ME_JID whose neonize client calls ``binding`` instead of Go."""
    driver._own_jid = ME_JID
    driver.client = driver._client_build()
    driver.client._NewClient__client = binding
    driver._logged_in = logged_in
    return driver


class Go:
    """Views of the arguments neonize passes to the Go ``Neonize`` entry point."""

    def __init__(self, args: tuple) -> None:
        self.args = args

    store, uuid = property(lambda self: self.args[0].decode()), property(lambda self: self.args[1])
    jid = property(lambda self: npb.JID.FromString(self.args[2]) if self.args[3] else None)
    new_device = property(lambda self: bool(self.args[4]))
    subscribed = property(lambda self: set(bytes(self.args[10])))

    def qr(self, code: bytes) -> None:
        buffer = ctypes.create_string_buffer(code)
        self.args[6](None, ctypes.addressof(buffer))

    def status(self, name: bytes) -> None:
        """goneonize main.go:1105-1111, 1152: a QR-channel item other than a code, as (uuid, event name) C strings."""
        uuid, text = ctypes.create_string_buffer(self.args[1]), ctypes.create_string_buffer(name)
        self.args[7](ctypes.addressof(uuid), ctypes.addressof(text))

    def event(self, event) -> None:
        data = event.SerializeToString()
        buffer = ctypes.create_string_buffer(data, len(data))
        self.args[8](self.args[1], ctypes.addressof(buffer), len(data), EVENT_TO_INT[type(event)])
